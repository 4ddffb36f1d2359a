import { toErrorBody } from '../../lambda/core/error-bodies.ts';
import { asGatewayError, GatewayError, invalidRequest, serverError } from '../../lambda/core/errors.ts';

describe('toErrorBody', () => {
  it('shows a 4xx message as it is', () => {
    // Prepare
    const error = invalidRequest('You must provide a model parameter.', 'model');
    // Act
    const body = toErrorBody(error, 'req-1');
    // Assess
    expect(body).toEqual({
      error: {
        message: 'You must provide a model parameter.',
        type: 'invalid_request_error',
        param: 'model',
        code: null,
      },
    });
  });

  it('adds the request id to a 5xx message', () => {
    const body = toErrorBody(
      serverError(502, 'upstream_error', 'The upstream provider returned an error.'),
      'req-2',
    );
    expect(body.error.message).toBe('The upstream provider returned an error. (request id: req-2)');
    expect(body.error.type).toBe('server_error');
    expect(body.error.code).toBe('upstream_error');
  });

  it('never shows the message of an unexpected error', () => {
    const error = asGatewayError(new Error('secret sk-live-123 leaked in a stack'));
    expect(error).toBeInstanceOf(GatewayError);
    expect(error.status).toBe(500);
    expect(JSON.stringify(toErrorBody(error, 'req-3'))).not.toContain('sk-live-123');
  });
});
