/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, tsconfig: 'tsconfig.dev.json' }] },
  // examples/cdk8s-app imports the package by name: here that is this repository's source.
  moduleNameMapper: { '^fleetsynth$': '<rootDir>/src/index.ts' },
  testTimeout: 60000,
  maxWorkers: 2,
};
