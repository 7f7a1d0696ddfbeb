// Types of window.Supportdesk, the SDK of the embed script (/widget.js): docs/API.md,
// "JavaScript SDK". Served by the desk at /static/supportdesk/supportdesk.d.ts; copy it into
// your project, or reference it: /// <reference path="./supportdesk.d.ts" />

export {};

/** A user signed in on your site, signed by your server with the inbox's identity verification
 *  secret: HMAC-SHA256 of "TIMESTAMP\nUSER_ID\nEMAIL", hex (README, "Identity verification"). */
export interface SupportdeskUser {
  userId: string;
  email?: string;
  /** Shown to agents; not signed. */
  name?: string;
  /** Unix seconds when your server signed; accepted for 10 minutes, once. */
  timestamp: number | string;
  signature: string;
}

/** A reply from the desk (an agent's or a bot's) that has just arrived in the widget; never
 *  an internal note. */
export interface SupportdeskMessage {
  conversation: number;
  /** The message's place in its conversation: 1, 2, 3, ... */
  seq: number;
  /** The text (empty for a message of files only). */
  body: string;
  /** The agent's (or bot's) display name. */
  author: string;
  sender: "agent" | "bot";
  /** When it was stored, ISO 8601. */
  at: string | null;
}

/** Custom attributes: flat, JSON-compatible values; the desk limits their number and size. */
export type SupportdeskAttributes = Record<string, string | number | boolean | null>;

export interface SupportdeskEvents {
  message: SupportdeskMessage;
  open: undefined;
  close: undefined;
  /** Agent messages the visitor has not seen; 0 while the chat is open. */
  unread: number;
}

export interface SupportdeskSDK {
  /** True once /widget.js has loaded (false or absent on the snippet's queue). */
  readonly loaded?: boolean;
  open(): void;
  close(): void;
  toggle(): void;
  /** Sign a user in without reloading the page. Rejects with the desk's reason (`Error`
   *  whose message is "Supportdesk: bad_signature", "... expired", "... replayed", ...). */
  identify(user: SupportdeskUser): Promise<void>;
  /** Forget the visitor in this browser: the widget starts afresh, empty. */
  logout(): Promise<void>;
  /** Shown to agents beside the chat. Resolves when stored (for a visitor who has not opened
   *  the chat yet: once they do); rejects with the desk's reason (too large, ...). */
  setAttributes(attributes: SupportdeskAttributes): Promise<void>;
  on<E extends keyof SupportdeskEvents>(event: E, listener: (data: SupportdeskEvents[E]) => void): void;
  unreadCount(): number;
}

declare global {
  interface Window {
    Supportdesk: SupportdeskSDK;
  }
}
