/**
 * Structured logs through the host (`host.log`): the host tags each line with the product and
 * plugin version, and truncates long messages and many fields. Never log a setting's value.
 */
import { log as hostLog, type LogLevel } from "assay:plugin/host@0.2.0";

export type Fields = Record<string, string>;

function write(level: LogLevel, message: string, fields: Fields = {}): void {
  hostLog(level, message, Object.entries(fields));
}

export const trace = (message: string, fields?: Fields) => write("trace", message, fields);
export const debug = (message: string, fields?: Fields) => write("debug", message, fields);
export const info = (message: string, fields?: Fields) => write("info", message, fields);
export const warn = (message: string, fields?: Fields) => write("warn", message, fields);
export const error = (message: string, fields?: Fields) => write("error", message, fields);
