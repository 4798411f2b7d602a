/** @type {import('jest').Config} */
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    keepClassNames: true,
    target: 'es2022',
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', swc] },
  // Tests run against the TypeScript sources of every workspace package, not their build output.
  moduleNameMapper: {
    '^@hikarikeeper/(raft|protocol|client|nestjs)$': '<rootDir>/libs/$1/src',
    '^@hikarikeeper/server$': '<rootDir>/server/src',
  },
  testMatch: ['<rootDir>/{libs,server,test,examples,bench}/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 60000,
};
