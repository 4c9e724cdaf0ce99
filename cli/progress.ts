/**
 * What the CLI says while it waits: a spinner with the latest step on a
 * terminal, one plain line per step elsewhere (CI logs keep every line).
 */
export class Progress {
  private frame = 0;
  private timer: NodeJS.Timeout | null = null;
  private current = '';

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly interactive: boolean,
  ) {}

  step(line: string): void {
    if (!this.interactive) {
      this.out.write(`${line}\n`);
      return;
    }
    this.clear();
    this.out.write(`${line}\n`);
    this.current = line;
    this.timer ??= setInterval(() => this.draw(), 100);
  }

  /** Leaves the spinner line empty: what follows prints cleanly. */
  done(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }

  private draw(): void {
    const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
    this.clear();
    this.out.write(`${frames[this.frame++ % frames.length]} waiting… (${this.current.split(':')[0]})`);
  }

  private clear(): void {
    if (this.interactive) this.out.write('\r\x1b[2K');
  }
}
