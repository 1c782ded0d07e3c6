export { type AvroOptions, type AvroSchema, type AvroValue, avro } from './avro.ts';
export {
  SchemaDecodeError,
  SchemaEncodeError,
  type SchemaFailure,
  SchemaRegistryError,
} from './errors.ts';
export { type JsonSchemaOptions, jsonSchema } from './json-schema.ts';
export { type ProtobufOptions, protobuf } from './protobuf.ts';
export {
  type ConfluentRegistryOptions,
  confluentRegistry,
  type GlueRegistryOptions,
  glueRegistry,
  type SchemaFormat,
  type SchemaRegistry,
  type SchemasInCodeOptions,
  schemasInCode,
  type WriterSchema,
} from './registry.ts';
export {
  frameConfluent,
  frameGlue,
  readMessageIndexes,
  unframeConfluent,
  unframeGlue,
  writeMessageIndexes,
} from './wire.ts';
