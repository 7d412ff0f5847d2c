// Diff of a render against a base, in parts a reader takes one at a time: types (the data), tree
// (reading managed files from disk or git), facts (what a file says), compare (trees and files),
// render (render in memory, then compare) and report (text, markdown, JSON).
export * from './types';
export { BaseFile, BaseListing, BaseSource, BlobReader, blobId, classifyPath, listTreeInDir, listTreeInGit, readTreeFromDir, readTreeFromGit } from './tree';
export { streamDiff } from './stream';
export { compareFiles, diffTrees } from './compare';
export * from './render';
export { DiffFormat, MarkdownLimits, formatDiff, hasChanges } from './report';
