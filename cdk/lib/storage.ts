// The lake's buckets: the lake itself, Athena's query results, and (optionally) the bucket
// their server access logs go to; plus the customer managed KMS key when the deployment
// asks for KMS. Every bucket is encrypted, blocks public access, refuses plain HTTP and
// expires what is only kept for a while (quarantined records, query results, access logs).
// Created by DdbLakeStack.

import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface LakeStorageProps {
  encryption: 'SSE_S3' | 'KMS';
  accessLogs: boolean;
  lakeBucketName?: string;
  /** Folder of quarantined records (relative to the bucket, no trailing `/`). */
  quarantinePrefix: string;
  quarantineExpirationDays: number;
  athenaResultsExpirationDays: number;
  accessLogsExpirationDays: number;
}

/** Where Athena writes query results inside the results bucket. */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';

export class LakeStorage extends Construct {
  /** The key that encrypts the buckets, queue, results and alarm topic (KMS mode only). */
  readonly key?: kms.Key;
  readonly lakeBucket: s3.Bucket;
  readonly resultsBucket: s3.Bucket;
  readonly accessLogsBucket?: s3.Bucket;

  constructor(scope: Construct, id: string, props: LakeStorageProps) {
    super(scope, id);

    if (props.encryption === 'KMS') {
      this.key = new kms.Key(this, 'DataKey', {
        description: 'ddb-lake: lake objects, Athena results, on-failure queue and alarm topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    const encryption = this.key
      ? { encryption: s3.BucketEncryption.KMS, encryptionKey: this.key, bucketKeyEnabled: true }
      : { encryption: s3.BucketEncryption.S3_MANAGED };
    const common = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    };

    if (props.accessLogs) {
      // Server access logs can only be delivered to an SSE-S3 bucket.
      this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
        ...common,
        encryption: s3.BucketEncryption.S3_MANAGED,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(props.accessLogsExpirationDays) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(this.accessLogsBucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason: 'This is the access-log bucket of the lake and results buckets; logging it into itself would loop.',
      });
    }
    const logs = (prefix: string) =>
      this.accessLogsBucket ? { serverAccessLogsBucket: this.accessLogsBucket, serverAccessLogsPrefix: prefix } : {};

    this.lakeBucket = new s3.Bucket(this, 'LakeBucket', {
      ...common,
      ...encryption,
      ...logs('lake/'),
      bucketName: props.lakeBucketName,
      lifecycleRules: [
        {
          id: 'expire-quarantine',
          prefix: `${props.quarantinePrefix}/`,
          expiration: Duration.days(props.quarantineExpirationDays),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      // The lake is the data: `cdk destroy` leaves it (see the README's teardown).
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.resultsBucket = new s3.Bucket(this, 'AthenaResultsBucket', {
      ...common,
      ...encryption,
      ...logs('athena-results/'),
      lifecycleRules: [
        {
          id: 'expire-query-results',
          prefix: ATHENA_RESULTS_PREFIX,
          expiration: Duration.days(props.athenaResultsExpirationDays),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    if (!this.accessLogsBucket) {
      for (const bucket of [this.lakeBucket, this.resultsBucket]) {
        Validations.of(bucket).acknowledge({
          id: 'AwsSolutions-S1',
          reason: 'Server access logging was turned off with -c accessLogs=false (the deployment chose CloudTrail or none).',
        });
      }
    }
  }
}
