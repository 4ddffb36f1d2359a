// The EventBridge JobEvents adapter on a moto server: an event a rule matches reaches the rule's SQS target.
import { randomUUID } from 'node:crypto';
import {
  CreateEventBusCommand,
  DeleteEventBusCommand,
  type EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  eventBridgeJobEvents,
  JobEventRejectedError,
  JobStatusEvent,
} from '../../lambda/adapters/eventbridge/job-events.ts';
import type { JobStatusChange } from '../../lambda/ports.ts';
import {
  eventBridgeClientFor,
  type MotoServer,
  sqsClientFor,
  startMotoServer,
} from '../fixtures/moto-server.ts';

let moto: MotoServer | undefined;
let events: EventBridgeClient;
let sqs: SQSClient;

beforeAll(async () => {
  moto = await startMotoServer();
  events = eventBridgeClientFor(moto.endpoint);
  sqs = sqsClientFor(moto.endpoint);
}, 60_000);

afterAll(async () => {
  events?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

const aChange = (overrides: Partial<JobStatusChange> = {}): JobStatusChange => ({
  jobId: 'ftjob-1',
  tenantId: 'acme',
  targetId: 'openai',
  model: 'gpt-4o-mini-2024-07-18',
  status: 'succeeded',
  previousStatus: 'running',
  fineTunedModel: 'ft:gpt-4o-mini-2024-07-18:acme::abc123',
  trainedTokens: 12_345,
  // whole seconds: an event's time has no finer grain
  observedAt: Date.UTC(2025, 2, 14, 12, 30, 5),
  ...overrides,
});

describe('eventBridgeJobEvents', () => {
  let busName: string;

  /** A queue that receives what a rule on the bus matching `source` and the detail type delivers. */
  const queueFor = async (source: string): Promise<string> => {
    const suffix = randomUUID().slice(0, 8);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `job-events-${suffix}` }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await events.send(
      new PutRuleCommand({
        Name: `job-status-${suffix}`,
        EventBusName: busName,
        EventPattern: JSON.stringify({ source: [source], 'detail-type': [JobStatusEvent.detailType] }),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: `job-status-${suffix}`,
        EventBusName: busName,
        Targets: [{ Id: 'queue', Arn: Attributes?.QueueArn }],
      }),
    );
    return QueueUrl ?? '';
  };

  const received = async (QueueUrl: string): Promise<Record<string, unknown>[]> => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    return Messages.map((message) => JSON.parse(message.Body ?? '{}') as Record<string, unknown>);
  };

  beforeEach(async () => {
    busName = `jobs-${randomUUID().slice(0, 8)}`;
    await events.send(new CreateEventBusCommand({ Name: busName }));
  });

  afterEach(async () => {
    await events.send(new DeleteEventBusCommand({ Name: busName }));
  });

  it('publishes a status change that a rule on the source and detail type delivers, with its detail', async () => {
    // Prepare
    const queue = await queueFor(JobStatusEvent.source);

    // Act
    await eventBridgeJobEvents(events, { busName }).publish(aChange());

    // Assess
    const [event, ...others] = await received(queue);
    expect(others).toStrictEqual([]);
    expect(event).toMatchObject({
      source: 'llm-gateway',
      'detail-type': 'Fine-tuning job status changed',
      time: '2025-03-14T12:30:05Z',
    });
    expect(event?.detail).toStrictEqual({
      eventId: 'ftjob-1#succeeded',
      jobId: 'ftjob-1',
      tenantId: 'acme',
      targetId: 'openai',
      model: 'gpt-4o-mini-2024-07-18',
      status: 'succeeded',
      previousStatus: 'running',
      fineTunedModel: 'ft:gpt-4o-mini-2024-07-18:acme::abc123',
      trainedTokens: 12_345,
      observedAt: '2025-03-14T12:30:05.000Z',
    });
  });

  it('publishes absent values as null, under the source it was given', async () => {
    // Prepare
    const queue = await queueFor('acme.gateway');
    const other = await queueFor(JobStatusEvent.source);

    // Act
    await eventBridgeJobEvents(events, { busName, source: 'acme.gateway' }).publish(
      aChange({
        status: 'validating_files',
        previousStatus: undefined,
        fineTunedModel: undefined,
        trainedTokens: undefined,
      }),
    );

    // Assess
    const [event] = await received(queue);
    expect(event?.source).toBe('acme.gateway');
    expect(event?.detail).toMatchObject({
      eventId: 'ftjob-1#validating_files',
      previousStatus: null,
      fineTunedModel: null,
      trainedTokens: null,
    });
    expect(await received(other)).toStrictEqual([]);
  });

  it('rejects with the error code and message of an entry EventBridge did not accept', async () => {
    // Prepare: moto answers an entry without a source with FailedEntryCount 1 and HTTP 200, as EventBridge
    // answers per-entry failures (real causes: throttling, a KMS key it cannot use, an internal failure).
    const publisher = eventBridgeJobEvents(events, { busName, source: '' });

    // Act
    const error = await publisher.publish(aChange()).then(
      () => undefined,
      (reason: unknown) => reason,
    );

    // Assess
    expect(error).toBeInstanceOf(JobEventRejectedError);
    expect(error).toMatchObject({
      code: 'InvalidArgument',
      message:
        'EventBridge did not accept the status event of job ftjob-1 (succeeded): InvalidArgument: ' +
        'Parameter Source is not valid. Reason: Source is a required argument.',
    });
  });

  it('rejects when the bus does not exist', async () => {
    // Act / Assess
    await expect(
      eventBridgeJobEvents(events, { busName: 'no-such-bus' }).publish(aChange()),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
