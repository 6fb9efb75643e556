// What a role needs to run statements in the stack's Athena workgroup over the lake: the
// workgroup, the catalog (read), the lake (read, under its prefix), the query results folder,
// the data key. Shared by the compaction and the metric publishers; each adds what it writes.

import { CfnElement, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';

import { ATHENA_RESULTS_PREFIX } from './storage';

export interface AthenaAccess {
  workGroupName: string;
  database: string;
  lakeBucket: s3.IBucket;
  /** The lake's key prefix (may be empty). */
  prefix: string;
  resultsBucket: s3.IBucket;
  key?: kms.IKey;
}

/** An ARN as cdk-nag prints it in a finding: each unresolved token as `<Token>`. */
export function arnAsFound(stack: Stack, service: string, rest: string): string {
  const shown = (value: string, token: string) => (Token.isUnresolved(value) ? `<${token}>` : value);
  return `arn:${shown(stack.partition, 'AWS::Partition')}:${service}:${shown(stack.region, 'AWS::Region')}:${shown(stack.account, 'AWS::AccountId')}:${rest}`;
}

/** A bucket's objects under `objects` as cdk-nag prints them in a finding. */
export function objectsAsFound(bucket: s3.IBucket, objects: string): string {
  const cfn = bucket.node.defaultChild as CfnElement | undefined;
  return cfn ? `<${Stack.of(bucket).getLogicalId(cfn)}.Arn>/${objects}` : `arn:<AWS::Partition>:s3:::${bucket.bucketName}/${objects}`;
}

/**
 * Lets `role` run statements in the workgroup (`athenaActions`), read the catalog and the
 * lake, and use the results folder and the data key; acknowledges each wildcard.
 */
export function grantAthenaQueries(role: iam.Role, a: AthenaAccess, athenaActions: string[]): void {
  const stack = Stack.of(role);
  const arn = (service: string, resource: string, resourceName?: string) => stack.formatArn({ service, resource, resourceName });
  role.addToPolicy(
    new iam.PolicyStatement({ sid: 'RunStatements', actions: athenaActions, resources: [arn('athena', 'workgroup', a.workGroupName)] }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadCatalog',
      actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
      resources: [arn('glue', 'catalog'), arn('glue', 'database', a.database), arn('glue', 'table', `${a.database}/*`)],
    }),
  );
  const lakeObjects = a.prefix ? `${a.prefix}/*` : '*';
  role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadLake', actions: ['s3:GetObject'], resources: [a.lakeBucket.arnForObjects(lakeObjects)] }));
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ListLake',
      actions: ['s3:ListBucket', 's3:GetBucketLocation'],
      resources: [a.lakeBucket.bucketArn],
      ...(a.prefix ? { conditions: { StringLike: { 's3:prefix': [`${a.prefix}/*`] } } } : {}),
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'QueryResults',
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      resources: [a.resultsBucket.arnForObjects(`${ATHENA_RESULTS_PREFIX}*`)],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({ sid: 'QueryResultsBucket', actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [a.resultsBucket.bucketArn] }),
  );
  if (a.key) {
    role.addToPolicy(new iam.PolicyStatement({ sid: 'UseDataKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [a.key.keyArn] }));
  }
  const findings = Validations.of(role);
  findings.acknowledge({
    id: `AwsSolutions-IAM5[Resource::${objectsAsFound(a.lakeBucket, lakeObjects)}]`,
    reason: 'Athena reads the tables its statements name (through the views, every table of the lake); reading only.',
  });
  findings.acknowledge({
    id: `AwsSolutions-IAM5[Resource::${objectsAsFound(a.resultsBucket, `${ATHENA_RESULTS_PREFIX}*`)}]`,
    reason: "Athena writes each query's results under the workgroup's result folder, named by query id.",
  });
  findings.acknowledge({
    id: `AwsSolutions-IAM5[Resource::${arnAsFound(stack, 'glue', `table/${a.database}/*`)}]`,
    reason: "Athena reads the database's tables and views its statements name; reading only.",
  });
}

/** Retry of an Athena call Athena throttled (its account-wide query limits). */
export const ATHENA_THROTTLED = [
  { ErrorEquals: ['Athena.TooManyRequestsException'], IntervalSeconds: 30, MaxAttempts: 6, BackoffRate: 2, JitterStrategy: 'FULL' },
];

/**
 * An ASL Task state running one statement in the workgroup and database and waiting for it
 * (the `.sync` integration): `query` is `{QueryString}` or `{'QueryString.$'}`; the query's id
 * is kept at `resultPath` as `{id}` (`null`: dropped); `next` or the end.
 */
export function athenaQueryState(
  a: Pick<AthenaAccess, 'workGroupName' | 'database'>,
  partition: string,
  comment: string,
  query: Record<string, string>,
  resultPath: string | null,
  next: string | undefined,
): Record<string, unknown> {
  return {
    Type: 'Task',
    Comment: comment,
    Resource: `arn:${partition}:states:::athena:startQueryExecution.sync`,
    Parameters: { ...query, WorkGroup: a.workGroupName, QueryExecutionContext: { Database: a.database } },
    Retry: ATHENA_THROTTLED,
    ...(resultPath === null
      ? { ResultPath: null }
      : { ResultSelector: { 'id.$': '$.QueryExecution.QueryExecutionId' }, ResultPath: resultPath }),
    ...(next ? { Next: next } : { End: true }),
  };
}

/** An ASL Task state reading the results of the query whose id is at `$.query.id`. */
export function queryResultsState(
  partition: string,
  selector: Record<string, string>,
  resultPath: string,
  next: string,
  maxResults?: number,
): Record<string, unknown> {
  return {
    Type: 'Task',
    Resource: `arn:${partition}:states:::athena:getQueryResults`,
    Parameters: { 'QueryExecutionId.$': '$.query.id', ...(maxResults ? { MaxResults: maxResults } : {}) },
    Retry: ATHENA_THROTTLED,
    ResultSelector: selector,
    ResultPath: resultPath,
    Next: next,
  };
}
