/**
 * The machine a timing was taken on: absolute times mean nothing without it. Written with every figure of
 * reports/bench.json and every speed check record.
 */
import { existsSync, readFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../core/config.js';

export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs the OS reports. */
  cores: number;
  os: string;
  kernel: string;
  arch: string;
  totalMemMiB: number;
  node: string;
  onnxruntimeNode: string | null;
  onnxruntimeWeb: string | null;
  playwright: string | null;
  /** 1, 5 and 15 minute load averages when the run started: above `cores`, other work shared the CPUs. */
  loadAverageStart: number[];
  loadAverageEnd?: number[];
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text);
    if (m?.[1]) return m[1];
  } catch {
    /* not Linux, or no os-release */
  }
  return `${platform()} ${release()}`;
}

function cpuModel(): string {
  const fromOs = cpus()[0]?.model?.trim();
  if (fromOs) return fromOs;
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    /* no /proc */
  }
  return 'unknown';
}

export function packageVersion(name: string): string | null {
  const p = join(REPO_ROOT, 'node_modules', name, 'package.json');
  if (!existsSync(p)) return null;
  try {
    return (JSON.parse(readFileSync(p, 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpuModel(),
    cores: cpus().length,
    os: osName(),
    kernel: release(),
    arch: arch(),
    totalMemMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    onnxruntimeWeb: packageVersion('onnxruntime-web'),
    playwright: packageVersion('@playwright/test'),
    loadAverageStart: loadavg().map(round2),
  };
}

export function currentLoad(): number[] {
  return loadavg().map(round2);
}

/** One line: "AMD EPYC, 2 cores, Debian GNU/Linux 12 (bookworm), load 3.6". */
export function machineLine(m: MachineInfo): string {
  return (
    `${m.cpuModel}, ${m.cores} cores, ${m.os}, Node ${m.node}, load ${m.loadAverageStart[0]} at start` +
    (m.loadAverageEnd ? `, ${m.loadAverageEnd[0]} at end` : '')
  );
}
