// Every id a request body names, by field name outside the free-form parts, and the fields it refuses.
import { IdKind, IdShape, idsInRequest } from '../../lambda/core/body-ids.ts';
import { GatewayError } from '../../lambda/core/errors.ts';

describe('idsInRequest', () => {
  it.each([
    [
      'a chat file part',
      IdShape.chat,
      { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] },
      [{ kind: IdKind.file, id: 'file-1', param: 'messages[0].content[0].file.file_id' }],
    ],
    [
      'a chat assistant message’s earlier audio answer',
      IdShape.chat,
      { messages: [{ role: 'assistant', audio: { id: 'audio_1' } }] },
      [{ kind: IdKind.audio, id: 'audio_1', param: 'messages[0].audio.id' }],
    ],
    [
      'a custom voice',
      IdShape.chat,
      { messages: [{ role: 'user', content: 'hi' }], audio: { voice: { id: 'voice_1' }, format: 'wav' } },
      [{ kind: IdKind.voice, id: 'voice_1', param: 'audio.voice.id' }],
    ],
    [
      'a chat tool call’s id and a tool message’s tool_call_id: pairing ids, not objects',
      IdShape.chat,
      {
        messages: [
          {
            role: 'assistant',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'ok' },
        ],
      },
      [],
    ],
    [
      'previous_response_id, and every input item’s own id',
      IdShape.responses,
      {
        previous_response_id: 'resp_1',
        input: [
          'a bare string item',
          { type: 'reasoning', id: 'rs_1', summary: [] },
          { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{}' },
          { type: 'function_call_output', call_id: 'call_1', output: 'done' },
          { id: 'msg_1' },
        ],
      },
      [
        { kind: IdKind.response, id: 'resp_1', param: 'previous_response_id' },
        { kind: IdKind.item, id: 'rs_1', param: 'input[1].id' },
        { kind: IdKind.item, id: 'fc_1', param: 'input[2].id' },
        { kind: IdKind.item, id: 'msg_1', param: 'input[4].id' },
      ],
    ],
    [
      'a conversation as a string and files inside tools',
      IdShape.responses,
      {
        conversation: 'conv_1',
        tools: [
          { type: 'code_interpreter', container: { type: 'auto', file_ids: ['file-1', 'file-2'] } },
          { type: 'code_interpreter', container: 'cntr_1' },
          { type: 'file_search', vector_store_ids: ['vs_1'] },
        ],
      },
      [
        { kind: IdKind.conversation, id: 'conv_1', param: 'conversation' },
        { kind: IdKind.file, id: 'file-1', param: 'tools[0].container.file_ids[0]' },
        { kind: IdKind.file, id: 'file-2', param: 'tools[0].container.file_ids[1]' },
        { kind: IdKind.container, id: 'cntr_1', param: 'tools[1].container' },
        { kind: IdKind.vectorStore, id: 'vs_1', param: 'tools[2].vector_store_ids[0]' },
      ],
    ],
    [
      'a conversation object and a prompt template, whose variables may hold files',
      IdShape.responses,
      {
        conversation: { id: 'conv_1' },
        prompt: { id: 'pmpt_1', variables: { doc: { type: 'input_file', file_id: 'file-9' } } },
      },
      [
        { kind: IdKind.conversation, id: 'conv_1', param: 'conversation.id' },
        { kind: IdKind.prompt, id: 'pmpt_1', param: 'prompt.id' },
        { kind: IdKind.file, id: 'file-9', param: 'prompt.variables.doc.file_id' },
      ],
    ],
    [
      'an MCP approval and a passed-back container call',
      IdShape.responses,
      {
        input: [
          { type: 'mcp_approval_response', approval_request_id: 'mcpr_1', approve: true },
          { type: 'code_interpreter_call', id: 'ci_1', container_id: 'cntr_1', code: 'print(1)' },
        ],
      },
      [
        { kind: IdKind.item, id: 'mcpr_1', param: 'input[0].approval_request_id' },
        { kind: IdKind.item, id: 'ci_1', param: 'input[1].id' },
        { kind: IdKind.container, id: 'cntr_1', param: 'input[1].container_id' },
      ],
    ],
    [
      'a container file citation: the container is checked, its file is the container’s',
      IdShape.responses,
      {
        input: [
          {
            type: 'message',
            role: 'assistant',
            id: 'msg_1',
            content: [
              {
                type: 'output_text',
                text: 'see',
                annotations: [
                  { type: 'container_file_citation', container_id: 'cntr_1', file_id: 'cfile_1' },
                ],
              },
            ],
          },
        ],
      },
      [
        { kind: IdKind.item, id: 'msg_1', param: 'input[0].id' },
        { kind: IdKind.container, id: 'cntr_1', param: 'input[0].content[0].annotations[0].container_id' },
      ],
    ],
    [
      'conversation items (create, add)',
      IdShape.conversation,
      { items: [{ type: 'item_reference', id: 'msg_1' }], metadata: { user_id: 'u1' } },
      [{ kind: IdKind.item, id: 'msg_1', param: 'items[0].id' }],
    ],
    [
      'nothing in free-form parts: metadata, JSON schemas, MCP headers',
      IdShape.responses,
      {
        metadata: { file_id: 'not-a-file', session_id: 's' },
        tools: [
          {
            type: 'function',
            name: 'lookup',
            parameters: {
              type: 'object',
              properties: { order_id: { type: 'string' } },
              required: ['order_id'],
            },
          },
          { type: 'mcp', server_label: 's', server_url: 'https://x', headers: { 'x-tenant_id': 't' } },
        ],
        text: {
          format: { type: 'json_schema', name: 'x', schema: { properties: { file_id: { type: 'string' } } } },
        },
      },
      [],
    ],
    [
      'a speech request’s custom voice',
      IdShape.other,
      { input: 'hi', voice: { id: 'voice_1' } },
      [{ kind: IdKind.voice, id: 'voice_1', param: 'voice.id' }],
    ],
    [
      'the vLLM request id, a call id and a continuation id: no objects',
      IdShape.responses,
      {
        request_id: 'r',
        background_options: { continuation_id: 'c' },
        input: [{ type: 'function_call_output', call_id: 'c1', output: 'x' }],
      },
      [],
    ],
  ] as const)('finds %s', (_name, shape, body, expected) => {
    expect(idsInRequest(shape, body as Record<string, unknown>)).toEqual(expected);
  });

  it.each([
    [IdShape.responses, { tools: [{ type: 'future', dataset_id: 'ds_1' }] }, 'tools[0].dataset_id'],
    [
      IdShape.chat,
      { messages: [{ role: 'user', content: 'x' }], knowledge_base_ids: ['kb_1'] },
      'knowledge_base_ids',
    ],
  ] as const)('refuses a field named like an id it does not know (%s)', (shape, body, param) => {
    // Act
    let thrown: unknown;
    try {
      idsInRequest(shape, body as Record<string, unknown>);
    } catch (error) {
      thrown = error;
    }

    // Assess
    expect(thrown).toBeInstanceOf(GatewayError);
    expect(thrown).toMatchObject({ status: 400, code: 'unsupported_id_field', param });
  });
});
