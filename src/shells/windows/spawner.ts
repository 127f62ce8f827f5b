/** How the Windows layer runs a program (reg.exe, powershell): injected in tests to record argv and env. */
export interface SpawnResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type Spawner = (command: string, args: string[], options: { env: NodeJS.ProcessEnv }) => Promise<SpawnResult>;
