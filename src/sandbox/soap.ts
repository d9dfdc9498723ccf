import { NS } from './namespaces.js';
import { el, escapeXml, wrap } from './xml-writer.js';

/** What Exchange 2016 CU-something reports; clients only read the numbers. */
export const SERVER_VERSION = Object.freeze({ MajorVersion: 15, MinorVersion: 1, MajorBuildNumber: 2507, MinorBuildNumber: 6, Version: 'V2017_07_11' });

const serverVersionInfo =
  `<h:ServerVersionInfo xmlns:h="${NS.t}" xmlns="${NS.t}" MajorVersion="${SERVER_VERSION.MajorVersion}" MinorVersion="${SERVER_VERSION.MinorVersion}"` +
  ` MajorBuildNumber="${SERVER_VERSION.MajorBuildNumber}" MinorBuildNumber="${SERVER_VERSION.MinorBuildNumber}" Version="${SERVER_VERSION.Version}"/>`;

/** A whole SOAP response: header with ServerVersionInfo, the body holding one response element. */
export function envelope(bodyXml: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<s:Envelope xmlns:s="${NS.soap}"><s:Header>${serverVersionInfo}</s:Header>` +
    `<s:Body xmlns:xsi="${NS.xsi}" xmlns:xsd="${NS.xsd}">${bodyXml}</s:Body></s:Envelope>`
  );
}

/**
 * A streaming notification envelope in the form Exchange really sends (captured responses
 * show an unprefixed Envelope with soap11:Header and soap11:Body); some clients search the
 * stream for "<Envelope" and "</Envelope>" to split it.
 */
export function streamingEnvelope(bodyXml: string): string {
  return (
    `<Envelope xmlns="${NS.soap}"><soap11:Header xmlns:soap11="${NS.soap}">` +
    `<ServerVersionInfo xmlns:xsd="${NS.xsd}" xmlns:xsi="${NS.xsi}" xmlns="${NS.t}" MajorVersion="${SERVER_VERSION.MajorVersion}" MinorVersion="${SERVER_VERSION.MinorVersion}"` +
    ` MajorBuildNumber="${SERVER_VERSION.MajorBuildNumber}" MinorBuildNumber="${SERVER_VERSION.MinorBuildNumber}" Version="${SERVER_VERSION.Version}"/>` +
    `</soap11:Header><soap11:Body xmlns:soap11="${NS.soap}">${bodyXml}</soap11:Body></Envelope>`
  );
}

/** `<m:XResponse>` with its namespace declarations and response messages inside. */
export function operationResponse(operation: string, messagesXml: string): string {
  return `<m:${operation}Response xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseMessages>${messagesXml}</m:ResponseMessages></m:${operation}Response>`;
}

export interface ResponseError {
  code: string;
  text: string;
  /** Name/value pairs for MessageXml (e.g. BackOffMilliseconds). */
  details?: Record<string, string | number>;
}

/** One `<m:XResponseMessage>`: Success with `contentXml`, or Error with code and text. */
export function responseMessage(operation: string, contentXml: string, error?: ResponseError): string {
  const name = `m:${operation}ResponseMessage`;
  if (!error) return `<${name} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>${contentXml}</${name}>`;
  return (
    `<${name} ResponseClass="Error">${el('m:MessageText', error.text)}${el('m:ResponseCode', error.code)}<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>` +
    `${messageXml(error.details)}${contentXml}</${name}>`
  );
}

function messageXml(details?: Record<string, string | number>): string {
  if (!details) return '';
  const values = Object.entries(details).map(([k, v]) => el('t:Value', String(v), { Name: k })).join('');
  return wrap('m:MessageXml', values);
}

/**
 * A SOAP 1.1 fault as Exchange sends it for request-level failures (schema errors,
 * ErrorServerBusy): faultcode/faultstring plus the EWS code in detail.
 */
export function soapFault(faultCode: 'Client' | 'Server', responseCode: string, message: string, details?: Record<string, string | number>): string {
  const detailValues = details
    ? `<t:MessageXml xmlns:t="${NS.t}">${Object.entries(details).map(([k, v]) => `<t:Value Name="${escapeXml(k)}">${escapeXml(String(v))}</t:Value>`).join('')}</t:MessageXml>`
    : '';
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<s:Envelope xmlns:s="${NS.soap}"><s:Body><s:Fault>` +
    `<faultcode xmlns:a="${NS.t}">${responseCode === 'ErrorSchemaValidation' || faultCode === 'Client' ? 's:Client' : `a:${responseCode}`}</faultcode>` +
    `<faultstring xml:lang="en-US">${escapeXml(message)}</faultstring>` +
    `<detail><e:ResponseCode xmlns:e="${NS.e}">${escapeXml(responseCode)}</e:ResponseCode><e:Message xmlns:e="${NS.e}">${escapeXml(message)}</e:Message>${detailValues}</detail>` +
    `</s:Fault></s:Body></s:Envelope>`
  );
}
