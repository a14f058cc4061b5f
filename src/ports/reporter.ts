// Where the engine says what it does and what went wrong: dcache's own
// words, which the CLI prints on stderr (prefixed `dcache:`) and the
// library routes as its caller asks. Nothing here may fail the call.
export interface Reporter {
  // whether info() lines are shown (-v): work done only for them is skipped otherwise
  readonly verbose?: boolean;
  // what --verbose asks for: hit or miss, and why
  info(message: string): void;
  // something went wrong with the cache; the call is unaffected
  warn(message: string): void;
  // the same warning once per process, however often its cause recurs
  warnOnce(topic: string, message: string): void;
  // a warning that -q does not hide (-qq does), once: the output is stale,
  // or the cache or a watched source was bypassed
  alert(topic: string, message: string): void;
  // --explain: one line per part
  explain(message: string): void;
  // what the work itself could not do (a command not found), even with --quiet
  error(message: string): void;
  // a transfer that may take a while (to or from the remote cache), shown as
  // it goes where that can be seen (a terminal; else null): 'uploading',
  // 'to redis://cache:6379'
  transfer?(verb: string, where: string, totalBytes: number, options?: { afterPartialLine?: () => boolean }): Transfer | null;
}

export interface Transfer {
  // the bytes moved so far, of the total
  moved(bytes: number): void;
  // done, or given up: whatever was shown of it goes
  end(): void;
}
