// The views at deploy: a custom resource whose handler (lambda/create-views) runs every view
// statement of `ddb-lake sql export` in Athena, in the export's order, each after the previous
// one succeeded. Its properties are the statements themselves, so a deploy that changes the
// SQL or the spec changes them and CloudFormation runs the handler again (CREATE OR REPLACE:
// every view is re-created). A failed view fails the deploy with Athena's reason, and
// CloudFormation rolls back. Created by DdbLakeStack after the catalog.

import * as path from 'node:path';

import { CustomResource, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

import type { SqlExport } from './inputs';
import { ATHENA_RESULTS_PREFIX } from './storage';

export interface LakeViewsProps {
  sql: SqlExport;
  database: string;
  workGroupName: string;
  resultsBucket: s3.IBucket;
  key?: kms.IKey;
  logRetentionDays: number;
}

/** The handler's code: the folder next to lib/. */
export const CREATE_VIEWS_CODE = path.join(__dirname, '..', 'lambda', 'create-views');

export class LakeViews extends Construct {
  readonly handler: lambda.Function;
  readonly role: iam.Role;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: LakeViewsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const views = props.sql.queries.filter((q) => q.kind === 'view');

    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: "ddb-lake views: run the view statements in the stack's Athena workgroup",
    });
    const arn = (service: string, resource: string, resourceName?: string) => stack.formatArn({ service, resource, resourceName });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RunViewStatements',
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution'],
        resources: [arn('athena', 'workgroup', props.workGroupName)],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        // A view is a Glue table of the database: CREATE OR REPLACE VIEW reads the tables and
        // views it names, and creates or updates its own.
        sid: 'WriteViews',
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:CreateTable', 'glue:UpdateTable'],
        resources: [arn('glue', 'catalog'), arn('glue', 'database', props.database), arn('glue', 'table', `${props.database}/*`)],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'QueryResults',
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
        resources: [props.resultsBucket.arnForObjects(`${ATHENA_RESULTS_PREFIX}*`)],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'QueryResultsBucket',
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [props.resultsBucket.bucketArn],
      }),
    );
    if (props.key) {
      this.role.addToPolicy(
        new iam.PolicyStatement({ sid: 'UseDataKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [props.key.keyArn] }),
      );
    }
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );

    this.handler = new lambda.Function(this, 'Handler', {
      description: 'ddb-lake: create the views in Athena, in order (custom resource handler)',
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(CREATE_VIEWS_CODE),
      timeout: Duration.minutes(10),
      memorySize: 256,
      role: this.role,
      logGroup,
    });
    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler,
      logGroup: new logs.LogGroup(this, 'ProviderLogGroup', {
        retention: props.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::DdbLakeViews',
      properties: {
        Database: props.database,
        WorkGroup: props.workGroupName,
        Views: views.map((v) => ({ Name: v.name, Version: String(v.version), Sql: v.sql })),
      },
    });

    // Each finding, acknowledged with its reason.
    const shown = (value: string, token: string) => (Token.isUnresolved(value) ? `<${token}>` : value);
    const glueTables = `arn:${shown(stack.partition, 'AWS::Partition')}:glue:${shown(stack.region, 'AWS::Region')}:${shown(stack.account, 'AWS::AccountId')}:table/${props.database}/*`;
    const resultsId = stack.getLogicalId(props.resultsBucket.node.defaultChild as never);
    const findings = Validations.of(this.role);
    findings.acknowledge({
      id: `AwsSolutions-IAM5[Resource::${glueTables}]`,
      reason: "A view statement reads the database's tables and views it names and writes its own view: the database's tables only.",
    });
    findings.acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${resultsId}.Arn>/${ATHENA_RESULTS_PREFIX}*]`,
      reason: "Athena writes each statement's result under the workgroup's result folder, named by query id.",
    });
    // The Provider framework's own function: CDK's code, role and runtime.
    const framework = Validations.of(provider);
    framework.acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: "CDK's custom resource provider framework gives its own function the basic execution role (logs only).",
    });
    framework.acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.handler.node.defaultChild as never)}.Arn>:*]`,
      reason: "The provider framework invokes the views handler's versions and aliases: that one function only.",
    });
    framework.acknowledge({
      id: 'AwsSolutions-L1',
      reason: "The provider framework's function runtime is chosen by CDK, not here.",
    });
  }
}
