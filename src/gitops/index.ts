// GitOps: the Git repository Argo CD watches. Workspace (clone, render, push with retry), diff of a
// render against a base (per bot: added / changed / removed, which fields), guarded publish, CLI commands.
export * from './workspace';
export * from './diff';
export * from './publish';
export * from './commands';
