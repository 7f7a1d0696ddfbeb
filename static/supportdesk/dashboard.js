/**
 * The agent dashboard: one socket for the lists, the team's presence and the open conversation
 * (realtime/socket.js); what it brings is applied by id (realtime/apply.js). This module wires
 * the parts in dashboard/ together, in an order that matters where two listen to one event:
 *   agent.js          this agent's settings, CSRF token, login
 *   pane.js           the open conversation: follow it, report it read, earlier messages
 *   reply-box.js      replies and notes (composer.js), saved replies (canned.js)
 *   lists.js          the list tabs
 *   notifications.js  tab title, desktop notifications, sound
 *   banner.js         the connection line and the red "down" banner
 *   transfer.js       the transfer form
 *   assist.js         AI assist: a suggested reply, a summary (when configured)
 *   shortcuts.js      keyboard shortcuts and their "?" overlay
 *   topbar.js         the account menu and the status select
 *   calls.js          voice and video calls: the buttons, the call dock (call/session.js)
 * and, beside dashboard/, confirm.js: every hx-confirm asked in an in-page dialog.
 */

// First: its htmx listeners must run before this page's (pane.js keeps a place after them).
import "./realtime/page.js";

import { installConfirmDialogs } from "./confirm.js";
import { installImageViewer } from "./image-viewer.js";
import { apply } from "./realtime/apply.js";
import { onView } from "./realtime/log.js";
import { connect, socketUrl } from "./realtime/socket.js";
import { goToLogin, store } from "./dashboard/agent.js";
import { installAssist } from "./dashboard/assist.js";
import { installCallDock, syncCallButtons } from "./dashboard/calls.js";
import { onHealthFrame, onSocketState } from "./dashboard/banner.js";
import { installListTabs, paintLabels, refreshRows, showView } from "./dashboard/lists.js";
import { installNotificationButtons, onListsChanged, renderSound } from "./dashboard/notifications.js";
import {
  follow, installPaneTools, keepPlaceOnEarlierMessages, markOpenRow, openId, reportRead,
  reportReadSoon, resetRead, syncPane, tickLocalTimes,
} from "./dashboard/pane.js";
import { attachReplyBox, flushReplies } from "./dashboard/reply-box.js";
import { installShortcuts } from "./dashboard/shortcuts.js";
import { installAccountMenu, syncMyStatus } from "./dashboard/topbar.js";
import { installTransfer } from "./dashboard/transfer.js";

installImageViewer();
installConfirmDialogs(); // "End this chat?" in the page, not confirm()
// The agent scrolled, or the log was resized: report it (once per frame at most).
onView(() => reportRead(conn));
installListTabs();
installNotificationButtons();
setInterval(tickLocalTimes, 30000);
installAccountMenu();
installTransfer();
installPaneTools(); // labels and snooze panels; before the shortcuts, whose Escape theirs stops
installAssist();
installShortcuts();

const calls = installCallDock(() => conn); // voice and video calls (call/session.js)
const conn = connect({
  url: () => socketUrl(document.body.dataset.socketPath),
  onOpen(c) {
    resetRead();
    follow(c);
    flushReplies();
    if (calls) calls.onOpen();
  },
  onResync: follow,
  onFrame(frame) {
    if (calls && calls.onFrame(frame)) return;
    if (frame.type === "html") {
      apply(frame.html);
      markOpenRow();
      if (frame.conversation && frame.conversation === openId()) reportReadSoon(conn);
    } else if (frame.type === "synced" && frame.conversation === openId()) {
      reportRead(conn);
    } else if (frame.type === "realtime" || frame.type === "database") {
      onHealthFrame(frame);
    }
  },
  onStatus: onSocketState,
  onDenied: goToLogin,
});

document.addEventListener("realtime:applied", () => {
  onListsChanged();
  syncMyStatus();
  tickLocalTimes(); // a visitor panel pushed by the socket shows its time at once
  refreshRows(); // waits, label colours, filter, sort (lists.js)
  syncPane(); // read-only after a transfer away, the label picker (pane.js)
  syncCallButtons(); // the call buttons follow the chat's state (calls.js)
});
// A header swapped in by a POST's answer (claim, labels, snooze, reopen).
document.body.addEventListener("htmx:afterSettle", () => {
  paintLabels(document);
  syncPane();
  syncCallButtons();
});
document.addEventListener("visibilitychange", () => reportRead(conn));
// On swap, not settle: the composer must be listening before the agent's first keystroke.
document.body.addEventListener("htmx:afterSwap", (event) => {
  if (event.target.id === "workspace") {
    follow(conn);
    attachReplyBox(() => conn);
    markOpenRow();
    tickLocalTimes();
  }
});
keepPlaceOnEarlierMessages();
refreshRows();

showView(store("view") || "open");
renderSound();
attachReplyBox(() => conn);
syncPane(); // after the reply box is wired: read-only wins over its own state
markOpenRow();
tickLocalTimes();
onListsChanged();
