// Each kind of owned object: where it lives in the upstream's API, what it is called, and the 404 the gateway
// answers for an id the tenant does not own (the same words as the upstream's for one that does not exist).
import { OwnedKind, type OwnedKindName } from '../../ports.ts';
import { type GatewayError, objectNotFound } from '../errors.ts';

/** Where each kind of object lives in the upstream's API. */
export const UPSTREAM_PATHS: Record<OwnedKindName, string> = {
  file: '/files',
  upload: '/uploads',
  job: '/fine_tuning/jobs',
  model: '/models',
  response: '/responses',
  conversation: '/conversations',
  item: '/items',
  container: '/containers',
  audio: '/audio',
  batch: '/batches',
};

export const NOUN: Record<OwnedKindName, string> = {
  file: 'File',
  upload: 'Upload',
  job: 'fine-tuning job',
  model: 'model',
  response: 'Response',
  conversation: 'Conversation',
  item: 'Item',
  container: 'Container',
  audio: 'Audio',
  batch: 'batch',
};

/** Kinds whose 404 reads as OpenAI's: `No such File object: <id>.` */
const NO_SUCH_OBJECT: ReadonlySet<OwnedKindName> = new Set([
  OwnedKind.file,
  OwnedKind.upload,
  OwnedKind.model,
]);

/** What the gateway says of an id the tenant does not own: the same as of one that does not exist. */
export const notOwned = (kind: OwnedKindName, id: string, param: string | null = null): GatewayError =>
  objectNotFound(
    kind === OwnedKind.job
      ? `Could not find fine-tuning job: ${id}.`
      : kind === OwnedKind.batch
        ? `No batch found with id '${id}'.`
        : NO_SUCH_OBJECT.has(kind)
          ? `No such ${NOUN[kind]} object: ${id}.`
          : `${NOUN[kind]} with id '${id}' not found.`,
    param,
  );
