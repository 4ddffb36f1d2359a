// Metrics port over Powertools Metrics: each batch becomes one CloudWatch Embedded Metric Format log line.
import type { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '../../ports.ts';

export const emfMetrics = (metrics: PowertoolsMetrics): Metrics => ({
  emit(batch) {
    for (const name in batch.dimensions) metrics.addDimension(name, batch.dimensions[name]!);
    for (const value of batch.values) metrics.addMetric(value.name, value.unit, value.value);
    metrics.publishStoredMetrics();
  },
});
