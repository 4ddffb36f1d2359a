// AWS's bounds for the values the config passes to constructs: the config (lib/config.ts) and the constructs
// check the same numbers, so the config refuses a value with its own field name before a construct would.

/** Lambda function memory (MB). */
export const LAMBDA_MEMORY_MB = { min: 128, max: 10_240 } as const;
/** ElastiCache Serverless usage limits (the same bounds aws-elasticache-alpha validates). */
export const CACHE_STORAGE_GB = { min: 1, max: 5_000 } as const;
export const CACHE_ECPU_PER_SECOND = { min: 1_000, max: 15_000_000 } as const;
/** A WAF rate-based rule's limit (AWS::WAFv2::WebACL RateLimit), requests per evaluation window. */
export const WAF_RATE_LIMIT = { min: 10, max: 2_000_000_000 } as const;
