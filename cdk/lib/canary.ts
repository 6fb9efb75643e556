// The canary: freshness end to end. Every 5 minutes EventBridge Scheduler writes a heartbeat
// item to the source table itself (a universal target, DynamoDB PutItem: no function), the
// stream carries it to the normalizer like any write, and the normalizer counts its record in
// the `CanaryRecords` metric once the record's rows are in the lake (DDB_LAKE_CANARY_KEY).
// `CanaryAlarm` (lib/monitoring.ts) fires when none has arrived for `canaryAlarmMinutes`.
// On for the demo table; for a table of yours only with `-c canary=true` (the heartbeat is an
// item in your table, and a row of the lake). Created by DdbLakeStack.

import { Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

/** The partition key value of the heartbeat item (its sort key value is `heartbeat`). */
export const CANARY_KEY = 'ddb-lake#canary';
/** How often the heartbeat is written. */
export const CANARY_RATE_MINUTES = 5;

export interface CanaryProps {
  tableName: string;
  /** The spec's key attribute names (both strings in the table). */
  partitionKey: string;
  sortKey?: string;
}

export class Canary extends Construct {
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: CanaryProps) {
    super(scope, id);
    const tableArn = Stack.of(this).formatArn({ service: 'dynamodb', resource: 'table', resourceName: props.tableName });
    const item: Record<string, { S: string }> = {
      [props.partitionKey]: { S: CANARY_KEY },
      ...(props.sortKey ? { [props.sortKey]: { S: 'heartbeat' } } : {}),
      written_at: { S: scheduler.ContextAttribute.scheduledTime },
    };
    this.schedule = new scheduler.Schedule(this, 'Heartbeat', {
      description: `ddb-lake canary: a heartbeat item in ${props.tableName} every ${CANARY_RATE_MINUTES} minutes (its row must reach the lake)`,
      schedule: scheduler.ScheduleExpression.expression(`rate(${CANARY_RATE_MINUTES} minutes)`, TimeZone.ETC_UTC),
      target: new targets.Universal({
        service: 'dynamodb',
        action: 'putItem',
        input: scheduler.ScheduleTargetInput.fromObject({ TableName: props.tableName, Item: item }),
        policyStatements: [
          new iam.PolicyStatement({
            // That one item of that one table.
            actions: ['dynamodb:PutItem'],
            resources: [tableArn],
            conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [CANARY_KEY] } },
          }),
        ],
      }),
    });
  }
}
