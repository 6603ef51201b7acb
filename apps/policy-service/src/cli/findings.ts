import { relative } from 'node:path';
import type { Document } from 'yaml';

/** Something wrong in a file, printed like a compiler's message: `file:line:column: message`. */
export interface Finding {
  file: string;
  /** 1-based; absent when the problem belongs to the file as a whole. */
  line?: number;
  column?: number;
  message: string;
  severity?: 'error' | 'warning';
}

/** A 1-based line and column. */
export interface Position {
  line: number;
  column: number;
}

/**
 * The line and column of a Cedar source offset. Cedar is written in Rust and counts
 * UTF-8 bytes, so a comment with "é" or "—" before an error would shift a column
 * counted in UTF-16 units; the offset is converted to characters first.
 */
export function positionOfByteOffset(text: string, byteOffset: number): Position {
  return positionAtEnd(Buffer.from(text, 'utf8').subarray(0, byteOffset).toString('utf8'));
}

/** The position of a character offset (what JavaScript parsers, `yaml` among them, report). */
export function positionOfCharOffset(text: string, offset: number): Position {
  return positionAtEnd(text.slice(0, offset));
}

/** Where the character after `before` is; columns count characters, not UTF-16 units. */
function positionAtEnd(before: string): Position {
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: [...before.slice(lineStart)].length + 1 };
}

/**
 * Findings for Cedar's errors about `text` (read from `file`): one per source location,
 * with Cedar's label and help appended, or one for the whole file when Cedar gave none.
 */
export function cedarFindings(
  file: string,
  text: string,
  errors: readonly { message: string; help?: string | null; sourceLocations?: { start: number; label?: string | null }[] }[],
  severity: Finding['severity'] = 'error',
): Finding[] {
  return errors.flatMap((error) => {
    const help = error.help ? ` (${error.help})` : '';
    const locations = error.sourceLocations ?? [];
    if (locations.length === 0) return [{ file, message: `${error.message}${help}`, severity }];
    return locations.map((location) => ({
      file,
      ...positionOfByteOffset(text, location.start),
      message: `${error.message}${location.label ? `: ${location.label}` : ''}${help}`,
      severity,
    }));
  });
}

/**
 * The character offset of the deepest node on `path` in a parsed YAML (or JSON) document
 * that exists: a missing key points at the object that lacks it.
 */
export function nodeOffset(doc: Document, path: readonly (string | number)[]): number {
  for (let depth = path.length; depth > 0; depth -= 1) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return node.range[0];
  }
  return doc.contents?.range?.[0] ?? 0;
}

/** `file:line:column: message`, the file relative to the working directory so editors can open it. */
export function formatFinding(finding: Finding): string {
  const where = [shown(finding.file), finding.line, finding.column].filter((part) => part !== undefined);
  return `${where.join(':')}: ${finding.severity === 'warning' ? 'warning: ' : ''}${finding.message}`;
}

/** `1 file`, `2 files`: counts in summary lines. */
export const plural = (count: number, noun: string, nouns = `${noun}s`): string => `${count} ${count === 1 ? noun : nouns}`;

/** A path as printed in messages: relative to the working directory. */
export const shown = (path: string): string => relative(process.cwd(), path) || '.';
