// Types for the two NTLM helpers, which ship none.
declare module 'js-md4' {
  const md4: { arrayBuffer(message: string | ArrayBuffer | Uint8Array): ArrayBuffer; hex(message: string | ArrayBuffer | Uint8Array): string };
  export default md4;
}

declare module '@ewsjs/ntlm-client' {
  export interface Type2Message {
    flags: number;
    encoding: 'ascii' | 'ucs2';
    version: 1 | 2;
    challenge: Buffer;
    targetName: string;
  }
  const ntlm: {
    /** "NTLM <base64>" */
    createType1Message(workstation?: string, target?: string): string;
    decodeType2Message(header: string): Type2Message;
    /** "NTLM <base64>" */
    createType3Message(type2: Type2Message, username: string, password: string, workstation?: string, target?: string): string;
  };
  export default ntlm;
}
