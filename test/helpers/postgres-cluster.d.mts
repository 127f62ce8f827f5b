// Types of postgres-cluster.mjs (plain JavaScript, shared with the benches).
export interface Cluster {
  port: number;
  /** The superuser's URL for a database of the cluster. */
  url(database: string): string;
}
export function postgresBinDir(): string | undefined;
export function clusterAt(port: number): Cluster;
export function startCluster(runDir: string): Promise<Cluster>;
export function stopCluster(runDir: string): void;
export function createDatabase(cluster: Cluster, prefix?: string): Promise<string>;
