/** scop-mail-corpus: generate messages with expected trees, encode, compare parses with the trees. */
export { generateMessage, GENERATOR_VERSION, DEFAULT_OPTIONS, type GenerateOptions, type GeneratedMessage } from './generate.ts';
export { expectedTree, expectedTexts, normalizeText, sha256 } from './expected.ts';
export { encodeMessage, lineProblems, type Encoded } from './encode.ts';
export { compareEntity, normalizeAddress, FULL, type ActualEntity, type ActualField, type ActualBody, type Capabilities, type Disagreement } from './compare.ts';
export { openSink, readJsonl, readMbox, mboxEscape, mboxUnescape, FORMATS, type Format, type Sink } from './formats.ts';
export { walk, isGroup } from './tree.ts';
export type * from './tree.ts';
export type * from './model.ts';
export { CHARSETS, repertoire } from './charsets.ts';
export { compareFlat, type FlatView, type FlatAttachment } from './flat.ts';
export { compareHeaders } from './compare.ts';
export { GOLDEN, goldenFiles, verifyGolden } from './golden.ts';
