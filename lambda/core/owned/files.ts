// Files and uploads: created on the files target (batch input files: where their lines route) and recorded as the tenant's; parts and completion only on the
// tenant's own uploads, with only the parts it added; lists from the tenant's records.
import { OwnedKind } from '../../ports.ts';
import { invalidRequest, objectNotFound, ownershipUnavailable } from '../errors.ts';
import { type GatewayResponse, jsonResponse } from '../exchange.ts';
import { readForm } from '../request-fields.ts';
import type { RouteSpec } from '../route-table.ts';
import { type Json, type OwnedCall, type OwnedCommon, type OwnedHandler, route } from './common.ts';
import { cursorList } from './lists.ts';

export const fileRoutes = (
  o: OwnedCommon,
  batchFiles: {
    /** A file with purpose `batch`: checked line by line, and held where its lines route (batches.ts). */
    readonly createInputFile: (call: OwnedCall, form: FormData) => Promise<GatewayResponse>;
    /** A file's content: a batch's results through the response content rules (batches.ts). */
    readonly fileContent: OwnedHandler;
  },
): RouteSpec[] => {
  const createFile: OwnedHandler = async (call) => {
    const body = await o.readFileBody(call, 'file');
    const form = await readForm(body, call.request.headers.get('content-type'));
    if (form.get('purpose') === 'batch') return batchFiles.createInputFile(call, form);
    const target = o.newObjectsTarget();
    const created = await o.createOwned(
      call,
      OwnedKind.file,
      target,
      { path: '/files', headers: o.forwardedHeaders(call.request), body },
      (id) => ({ method: 'DELETE', path: `/files/${encodeURIComponent(id)}` }),
    );
    if (!created.ok) return created.response;
    return jsonResponse(created.status, created.record.object, call.headers());
  };

  const listFiles: OwnedHandler = async (call) => {
    const purpose = call.query.get('purpose');
    const page = await o.page(
      call.principal,
      OwnedKind.file,
      call.query,
      { defaultLimit: 10_000, maxLimit: 10_000, order: true },
      (file) => purpose === null || file.object.purpose === purpose,
    );
    return jsonResponse(200, cursorList(page), call.headers());
  };

  const createUpload: OwnedHandler = async (call) => {
    const target = o.newObjectsTarget();
    const { bytes, body } = o.readJson(call);
    if (body.purpose === 'batch') {
      // Its parts are joined upstream, where the gateway cannot read its lines.
      throw invalidRequest(
        `Batch input files cannot be sent with the Uploads API through this gateway, which checks every line of them: upload the file with POST /v1/files (up to ${o.policy.maxFileBytes} bytes).`,
        'purpose',
        'unsupported_purpose',
      );
    }
    const created = await o.createOwned(
      call,
      OwnedKind.upload,
      target,
      { path: '/uploads', headers: { 'content-type': 'application/json' }, body: bytes },
      (id) => ({ method: 'POST', path: `/uploads/${encodeURIComponent(id)}/cancel` }),
      () => ({ parts: [] }),
    );
    if (!created.ok) return created.response;
    return jsonResponse(created.status, created.record.object, call.headers());
  };

  const addPart: OwnedHandler = async (call, id) => {
    const upload = await o.owned(call.principal, OwnedKind.upload, id);
    const body = await o.readFileBody(call, 'part');
    const exchanged = await o.exchange(call, o.targetOf(upload), {
      method: 'POST',
      path: `/uploads/${encodeURIComponent(upload.id)}/parts`,
      headers: o.forwardedHeaders(call.request),
      body,
    });
    if (!exchanged.ok) return exchanged.response;
    const partId = o.idOf(exchanged.object, 'part');
    const stored = await o.refresh(upload, (current) => ({ parts: [...(current.parts ?? []), partId] }));
    if (!stored) throw ownershipUnavailable('The gateway could not record the part. Send it again.');
    return jsonResponse(exchanged.status, exchanged.object, call.headers());
  };

  const completeUpload: OwnedHandler = async (call, id) => {
    const upload = await o.owned(call.principal, OwnedKind.upload, id);
    const { bytes, body } = o.readJson(call);
    const partIds = body.part_ids;
    if (!Array.isArray(partIds) || partIds.some((part) => typeof part !== 'string')) {
      throw invalidRequest("'part_ids' must be an array of part ids.", 'part_ids');
    }
    const known = new Set(upload.parts ?? []);
    for (const part of partIds as string[]) {
      if (!known.has(part)) throw objectNotFound(`No such Upload Part object: ${part}.`, 'part_ids');
    }
    const target = o.targetOf(upload);
    const exchanged = await o.exchange(call, target, {
      method: 'POST',
      path: `/uploads/${encodeURIComponent(upload.id)}/complete`,
      headers: { 'content-type': 'application/json' },
      body: bytes,
    });
    if (!exchanged.ok) return exchanged.response;
    const completed = exchanged.object;
    const file = completed.file;
    if (typeof file === 'object' && file !== null && !Array.isArray(file)) {
      const fileId = o.idOf(file as Json, 'file');
      await o.record(o.newRecord(call, OwnedKind.file, target, file as Json), () =>
        o.send(target, { method: 'DELETE', path: `/files/${encodeURIComponent(fileId)}` }),
      );
    }
    await o.refresh(upload, () => ({ object: completed }));
    return jsonResponse(exchanged.status, completed, call.headers());
  };

  const cancelUpload: OwnedHandler = async (call, id) => {
    const upload = await o.owned(call.principal, OwnedKind.upload, id);
    const exchanged = await o.exchange(call, o.targetOf(upload), {
      method: 'POST',
      path: `/uploads/${encodeURIComponent(upload.id)}/cancel`,
    });
    if (!exchanged.ok) return exchanged.response;
    await o.refresh(upload, () => ({ object: exchanged.object }));
    return jsonResponse(exchanged.status, exchanged.object, call.headers());
  };

  return [
    { path: '/v1/files', methods: { POST: route(createFile), GET: route(listFiles) } },
    {
      path: '/v1/files/{id}',
      methods: {
        GET: route(o.passThrough(OwnedKind.file, '')),
        DELETE: route(o.deleteOwned(OwnedKind.file)),
      },
    },
    { path: '/v1/files/{id}/content', methods: { GET: route(batchFiles.fileContent) } },
    { path: '/v1/uploads', methods: { POST: route(createUpload) } },
    { path: '/v1/uploads/{id}/parts', methods: { POST: route(addPart) } },
    { path: '/v1/uploads/{id}/complete', methods: { POST: route(completeUpload) } },
    { path: '/v1/uploads/{id}/cancel', methods: { POST: route(cancelUpload) } },
  ];
};
