// The shape every candidate upstream HTTP client is wrapped in for the client-choice benchmark.

export interface BenchClient {
  /** POSTs a JSON body and reads the whole response; resolves to the status and the body size. */
  post(path: string, body: string): Promise<{ status: number; bytes: number }>;
  close(): Promise<void>;
}

export type CreateClient = (origin: string) => BenchClient;
