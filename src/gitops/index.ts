// GitOps: the Git repository Argo CD watches. Workspace (clone, render, push with retry), diff of a
// render against a base (per bot: added / changed / removed, which fields) and guarded publish.
// The CLI commands (./commands) are not re-exported: they import src/cli.ts, and library users
// (the live service) should not pull the CLI, or an import cycle, in with GitWorkspace.
export * from './workspace';
export * from './diff';
export * from './publish';
