/**
 * The names the MIME stage emits (symbols.ts): one per attachment flag, and the scan and parse
 * outcomes — its part of the symbol catalogue (runtime/symbols.ts). A new name goes here, an input
 * that fires it into symbols.test.ts (which fails on a declared name no input fires), and its
 * weight into the policy file.
 */
import { symbolOf, type SymbolInfo } from '../../runtime/symbols.ts';

const mime = symbolOf('mime');

export const MIME_SYMBOLS = {
  MIME_EXECUTABLE: mime('an executable attachment'),
  MIME_SCRIPT: mime('a script attachment'),
  MIME_DOUBLE_EXTENSION: mime('an attachment named like invoice.pdf.exe'),
  MIME_TYPE_MISMATCH: mime("an attachment whose content is not its declared type"),
  MIME_MACRO_OFFICE: mime('an Office document with macros'),
  MIME_ARCHIVE: mime('an archive attachment'),
  MIME_ENCRYPTED_ARCHIVE: mime('a password-protected archive'),
  MIME_HTML: mime('an HTML attachment'),
  MIME_VIRUS: mime('ClamAV found a virus'),
  MIME_SCAN_FAILED: mime('the virus scan could not run'),
  MIME_PARSE_FAILED: mime('the message could not be parsed'),
  MIME_LIMITS_EXCEEDED: mime('parsing stopped at a limit'),
} as const satisfies Record<string, SymbolInfo>;

export type MimeSymbolName = keyof typeof MIME_SYMBOLS;
