/** A one-line progress bar for a terminal (stderr), redrawn in place. */
export function progressLine(label: string, done: number, total: number, width = 30): string {
  const share = total ? Math.min(1, done / total) : 1;
  const filled = Math.round(share * width);
  return `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} (${Math.round(share * 100)}%)`;
}
