// The lint rules encode the architecture: raw netlink only in lib/netlink,
// child_process only where a module owns an external program, process.exit
// only at the protocol boundary.
import tseslint from 'typescript-eslint';

const restrictedImports = (allow) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: [
        ...(allow.includes('netlink') ? [] : [{ name: 'netlink', message: 'Use the typed facade in lib/netlink.' }]),
        ...(allow.includes('child_process')
          ? []
          : [
              { name: 'child_process', message: 'Only lib/exec and lib/cni/invoke run programs.' },
              { name: 'node:child_process', message: 'Only lib/exec and lib/cni/invoke run programs.' },
            ]),
      ],
    },
  ],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'build/**', 'scripts/**', '**/*.cjs', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: 'error',
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'Only lib/cni/main.ts exits.' }],
      ...restrictedImports([]),
    },
  },
  { files: ['lib/netlink/**/*.ts'], rules: restrictedImports(['netlink']) },
  { files: ['lib/exec/**/*.ts', 'lib/cni/invoke.ts', 'tools/conformance/sandbox.ts'], rules: restrictedImports(['child_process']) },
  { files: ['lib/cni/main.ts', 'cmd/entry.ts'], rules: { 'no-restricted-properties': 'off' } },
  { files: ['test/**/*.ts'], rules: { ...restrictedImports(['child_process']), '@typescript-eslint/no-unsafe-member-access': 'off', '@typescript-eslint/no-unsafe-assignment': 'off' } },
);
