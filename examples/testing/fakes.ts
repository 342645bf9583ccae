/** Test doubles shared by the vitest and node:test versions of the example. */
import type { Mailer, User, Users } from "./signup.ts";

export class MemoryUsers implements Users {
  readonly rows: User[] = [];
  async create(email: string): Promise<User> {
    const user = { id: this.rows.length + 1, email };
    this.rows.push(user);
    return user;
  }
}

/** Records mail; `failNext(n)` makes the next n sends throw, like a flaky provider. */
export class FakeMailer implements Mailer {
  readonly sent: Array<{ to: string; subject: string }> = [];
  private failures = 0;
  failNext(n: number): void {
    this.failures = n;
  }
  async send(to: string, subject: string): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error("mail provider unavailable");
    }
    this.sent.push({ to, subject });
  }
}

/** `days` days after `from`. */
export function daysFrom(from: Date, days: number): Date {
  return new Date(from.getTime() + days * 86_400_000);
}
