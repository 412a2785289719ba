/**
 * Unit tests of the frontend's parsers and pure helpers (js/src/__tests__),
 * with ts-jest; jsdom gives them the browser's DOMParser.
 */
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/js/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
