/**
 * Replacing a file whole, so that a crash or a power cut at any point leaves the old content or
 * the new one, never a mix, an empty file or a torn one: the bytes go to a temporary file in the
 * same folder (a rename does not cross file systems), which is fsync'd, renamed over the file,
 * and then the folder is fsync'd so that the rename itself is on disk. Without the file's fsync a
 * power cut soon after the rename can leave the name on an empty file (delayed allocation: ext4,
 * XFS), and without the folder's the old content can come back after the caller was told the new
 * one was written.
 *
 * A failed replace (a full disk, a folder this user may not write) removes its temporary file
 * and throws the file system's own error (its errno intact, for the caller to explain): nothing is
 * left beside the file for its owner to find. A kill -9 mid-write can still leave one, named
 * `<file>.<pid>-<random>.tmp`; it is never read.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface ReplaceOptions {
  /** the new file's permission bits (less the umask), as open(2) takes them; default 0o666. Key and config files want 0o600. */
  mode?: number;
}

/**
 * The file system calls a replace makes, in one object so that a test can fail one of them (a
 * full disk's ENOSPC) or see that it was made (the fsyncs), without mocking node:fs for the process.
 */
export const durableIo = { openSync, writeSync, fsyncSync, closeSync, renameSync, rmSync };

/**
 * The folder's own fsync is refused where a folder cannot be opened as a file (Windows: EISDIR,
 * EPERM), read (a folder this user may write but not list: EACCES) or synced (some network and
 * FUSE file systems: EINVAL). The file is replaced by then and nothing else can make the rename
 * durable, so these leave it as the platform keeps it; an I/O error (EIO) is still thrown.
 */
const DIR_SYNC_UNSUPPORTED = new Set(["EISDIR", "EPERM", "EACCES", "EINVAL"]);

const tempName = (file: string) => `${file}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
const unsupported = (e: unknown) => DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? "");

/** Replaces `file` with `data`, whole: a crash at any point leaves the old content or the new. Throws the file system's error. */
export function replaceFileSync(file: string, data: string | Uint8Array, o: ReplaceOptions = {}): void {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  const tmp = tempName(file);
  try {
    // wx: the name is this call's own; nothing another process (or an older crash) left is written through
    const fd = durableIo.openSync(tmp, "wx", o.mode ?? 0o666);
    try {
      for (let at = 0; at < bytes.length;) at += durableIo.writeSync(fd, bytes, at, bytes.length - at);
      durableIo.fsyncSync(fd);
    } finally {
      durableIo.closeSync(fd);
    }
    durableIo.renameSync(tmp, file);
  } catch (e) {
    removeQuietlySync(tmp);
    throw e;
  }
  syncDirSync(dirname(file));
}

function removeQuietlySync(tmp: string) {
  try {
    durableIo.rmSync(tmp, { force: true });
  } catch {
    // what is thrown is the write's own error
  }
}

function syncDirSync(dir: string) {
  let fd: number;
  try {
    fd = durableIo.openSync(dir, "r");
  } catch (e) {
    if (unsupported(e)) return;
    throw e;
  }
  try {
    durableIo.fsyncSync(fd);
  } catch (e) {
    if (!unsupported(e)) throw e;
  } finally {
    durableIo.closeSync(fd);
  }
}
