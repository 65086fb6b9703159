# Texts for staff and citizens, English. Every key here must exist in de.ftl too.

## CLI: amtsbote broadcast
cli-preview-header = Preview: { $kind } on topic “{ $topic }”, priority { $priority }
cli-preview-recipients = Recipients: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
cli-preview-not-sent = Nothing was sent. Run the same command with --yes to send it.
cli-released = Broadcast #{ $id } is released to { $total } recipients. A running `amtsbote run` delivers it now; otherwise the next start does.
cli-already-created = Broadcast #{ $id } was already created with this idempotency key (status: { $status }). Nothing new was sent.
cli-awaiting = Broadcast #{ $id } awaits approval by a second member of the emergency team; a running `amtsbote run` asks them in their chat.
cli-scheduled = Broadcast #{ $id } is planned for { $at }.
cli-cancelled = Broadcast #{ $id } is cancelled; nothing more of it will be sent.
cli-not-cancelled = Broadcast #{ $id } had already ended; nothing to cancel.

## CLI: amtsbote stats
stats-none = No broadcasts yet.
stats-failure = #{ $id }: { $count } failed: { $reason }
stats-lane-paused = Lane { $channel } is paused until { $until } (platform said: { $reason }).

## The demo
demo-news-text = City news { $run }: the town hall opens on Saturday from 10 to 14 o'clock.
demo-alert-text = ALERT { $run }: severe storm warning for the whole city area. Stay indoors.
demo-setup = Demo: { $subscribers } subscribers (half Telegram, half WhatsApp), lanes at { $telegram_rate } and { $whatsapp_rate } messages/s (0 = unlimited).
demo-alert-released = Alert released after { $news } news messages had arrived.
demo-summary =
    Delivered: news { $news_delivered }, alert { $alert_delivered }; lost { $lost }, duplicates { $duplicates }.
    Telegram: { $telegram_rate_achieved }/s achieved (configured { $telegram_rate_configured }), at most { $telegram_max_1s } in any second.
    WhatsApp: { $whatsapp_rate_achieved }/s achieved (configured { $whatsapp_rate_configured }), at most { $whatsapp_max_1s } in any second.
    News fan-out: { $fanout_ms } ms. Alert: first message { $alert_first_send_ms } ms after release, all in { $alert_complete_s } s.
    Peak memory: { $peak_rss_mb } MiB.
    Ceilings in this run: { $ceiling_http_per_s } loopback HTTP requests/s (throughput { $throughput_ratio } of it), bare insert of the fan-out { $ceiling_insert_ms } ms (fan-out { $fanout_ratio }× it).

## Conversation: citizens
welcome = Welcome to your city's news service! You now receive alerts. Choose more topics below; /help shows everything you can do.
help-citizen =
    /topics – choose topics
    /subscribe TOPIC, /unsubscribe TOPIC – by name
    /language de|en – language
    /stop – no more messages (until /start)
    /delete – erase all your data
help-pointer = I did not understand that. /help shows what I can do.
error-try-again = Sorry, something went wrong on our side. Please try again in a moment.
topics-header = Your topics (tap to switch on or off):
unknown-topic = Unknown topic “{ $topic }”. Topics: { $valid }
subscribed = You now receive: { $topic }.
unsubscribed = You no longer receive: { $topic }.
unsubscribed-alerts = You no longer receive { $topic }. Warning: you will not be told about emergencies in the city. /subscribe alerts switches them back on.
language-set = From now on I write in English.
language-unknown = Available languages: { $valid }
stopped = You will receive no more messages. /start switches them on again.
button-delete = Erase all my data
delete-ask = This erases everything we keep about you (subscription, topics, language). Tap the button or send /delete { $code } within 15 minutes.
delete-bad-code = That code is wrong or expired. Send /delete to get a new one.
delete-done = All your data is erased. Goodbye!

## Conversation: staff
help-staff =
    Staff:
    /announce TOPIC TEXT – preview an announcement
    /alert TEXT – preview an alert to everyone on alerts
    /update ID TEXT, /allclear ID TEXT – follow-ups to alert ID
    /confirm CODE, /cancel CODE – send or drop a preview
    /status [ID] – progress; /stop_broadcast ID – stop what is not sent yet
staff-refused = Sorry, only city staff may do that.
usage-announce = Usage: /announce TOPIC TEXT
usage-alert = Usage: /alert TEXT
usage-follow-up = Usage: /update ID TEXT or /allclear ID TEXT (ID of the alert)
usage-status = Usage: /status [ID]
usage-stop-broadcast = Usage: /stop_broadcast ID
not-an-alert = Broadcast #{ $id } is not an alert.
bad-text = The text cannot be sent: { $reason }.
kind-announcement = announcement
kind-alert = ALERT
kind-update = alert update
kind-allclear = all-clear
button-send = Send
button-approve = Approve
button-drop = Drop
button-cancel = Cancel
preview =
    Preview of the { $kind } (topic { $topic }, priority { $priority }), exactly as recipients will see it:

    { $text }

    Recipients: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
    Send: /confirm { $code } · Cancel: /cancel { $code }
preview-needs-approval =
    Preview of the { $kind } (topic { $topic }, priority { $priority }), exactly as recipients will see it:

    { $text }

    Recipients: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
    Send: /confirm { $code } · Cancel: /cancel { $code }
    After you send it, another member of the emergency team must approve it.
preview-approve =
    Please approve this { $kind } (topic { $topic }):

    { $text }

    Recipients: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
    Approve: /confirm { $code } · Drop: /cancel { $code }
awaits-approval = Broadcast #{ $id } awaits approval: the emergency team has been asked. /stop_broadcast { $id } withdraws it.
approved = Broadcast #{ $id } is approved and on its way.
confirm-refused = Sorry, you may not do that with this code. It stays valid for someone who may.
not-awaiting = Broadcast #{ $id } is { $status }: there is nothing to do with this code any more.
schedule-refused = Sorry, only the emergency team may remove an alert's schedule.
needs-emergency = Sorry, only the emergency team may do that to an alert, update or all-clear. Nothing was changed.
confirm-own = You cannot approve your own alert: another member of the emergency team must.
confirm-unknown = Code { $code } is unknown, expired or already used.
preview-cancelled = Dropped; nothing was sent.
released = Broadcast #{ $id } is released and on its way.
broadcast-stopped = Broadcast #{ $id } is stopped; what was not sent yet will not be.
broadcast-not-stopped = Broadcast #{ $id } had already ended.
broadcast-unknown = There is no broadcast #{ $id }.
status-line = #{ $id } { $status } ({ $kind }, { $topic }): Telegram sent { $tg_sent }, open { $tg_open }, failed { $tg_failed }, gone { $tg_gone } · WhatsApp sent { $wa_sent }, open { $wa_open }, failed { $wa_failed }, gone { $wa_gone }
status-paused = The { $channel } lane is paused by the platform for { $seconds } more seconds.

## Telegram command menu
cmd-start = Subscribe (alerts) and choose topics
cmd-topics = Choose topics
cmd-language = Language: /language de or en
cmd-help = What I can do
cmd-stop = No more messages
cmd-delete = Erase all my data
cmd-status = Staff: progress of broadcasts

## WhatsApp
wa-list-button = Choose
welcome-whatsapp = Hello! This is your city's news service. Send START to receive alerts and choose topics; HELP shows everything you can do.
preview-whatsapp-version = WhatsApp recipients outside the 24-hour window receive it as: { $text }

## Schedules
usage-schedule =
    Usage: /schedule 2026-12-01 08:00 TOPIC TEXT (city time)
    or /schedule_cron S M H DAY MONTH WEEKDAY TOPIC TEXT, e.g. /schedule_cron 0 0 8 * * Thu news …
bad-schedule = That schedule does not work: { $reason }
preview-at = Planned for { $at }.
preview-recurring = Repeats ({ $expr }), next on { $next }.
scheduled-ok = Broadcast #{ $id } is planned for { $at }. /scheduled lists what is planned; /unschedule { $id } removes it.
schedule-created = Schedule { $id } is set; next on { $next }. /unschedule { $id } removes it.
planned-once = #{ $id } on { $at } ({ $topic }): { $text }
planned-recurring = { $id } { $expr }, next on { $next } ({ $topic }): { $text }
planned-none = Nothing is planned.
unscheduled = { $id } is removed from the plan.
unschedule-unknown = { $id } is not planned (use #ID for one broadcast, S ID for a recurring one).
schedule-missed = Broadcast #{ $id } was planned while the service was down and is now too late: it was not sent.
schedule-missed-recurring = Schedule S{ $id } fell due while the service was down and was skipped this time.

## Drills
drill-marker = ÜBUNG / EXERCISE
usage-drill = How to: /drill TEXT — a drill of the whole alert path (preview, approval, sending at alert priority), to the staff only.
drill-report = Drill #{ $id } finished: { $recipients } recipients, { $sent } reached; first message { $first_ms } ms after release, all after { $complete_s } s.

## Official warnings (NINA / CAP)
warnings-none-active = No active official warning for the area.
demo-warning-published = Official warning ({ $kind }) { $id } appears at the simulated warning API.
demo-warnings-summary =
    Official warning delivered: { $warning_delivered } of { $warning_expected }, update { $update_delivered }, all-clear { $allclear_delivered }; lost { $lost }, duplicates { $duplicates }.
    First message { $warning_first_send_ms } ms after the document first appeared (polled every { $poll_seconds } s), all in { $warning_complete_s } s (the lanes' bound { $warning_complete_bound_s } s).
    Update with everyone after { $update_complete_s } s, all-clear after { $allclear_complete_s } s. Peak memory: { $peak_rss_mb } MiB.
warning-kind-alert = Official warning
warning-kind-update = Update
warning-kind-cancel = All-clear
warning-source = Source: { $provider }, { $time }
warning-sent-auto = An official warning went out by itself as broadcast #{ $id }. /status { $id }
warning-auto-released = Official warning #{ $id } (extreme) was not approved in time and has now gone out by itself. /status { $id }
