# Texts for staff and citizens, English. Every key here must exist in de.ftl too.

## CLI: amtsbote broadcast
cli-preview-header = Preview: { $kind } on topic “{ $topic }”, priority { $priority }
cli-preview-recipients = Recipients: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
cli-preview-target = Only for: { $areas } (and whoever chose no district)
cli-preview-media = With a { $kind }: { $what }, { $size } (metadata removed). Alternative text: { $alt }
demo-picture-summary = Text: { $text_per_s } messages/s; with the picture: { $picture_per_s } messages/s (ratio { $ratio }). Uploads: Telegram { $uploads_tg }, WhatsApp { $uploads_wa }. Peak memory: { $rss_text } MB with text, { $rss_picture } MB with the picture.
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
stats-role-held = Role { $role }: { $holder } (token { $token }, lease { $ms } ms left).
stats-role-free = Role { $role }: free (last held by { $holder }, token { $token }).

## The demo
demo-news-text = City news { $run }: the town hall opens on Saturday from 10 to 14 o'clock.
demo-alert-text = ALERT { $run }: severe storm warning for the whole city area. Stay indoors.
demo-staff-text = Road works { $run }: the bridge on Main Street is closed on Monday.
demo-signups = Sign-ups: { $answered } of { $signups } answered, { $per_s } per second, the slowest after { $slowest_ms } ms; the press officer's preview came after { $staff_ms } ms ({ $news_pending } news messages still pending at the start).
demo-locations = Locations from the same people: { $answered } answered, { $per_s } per second ({ $ratio } × the rate of the sign-ups), the slowest after { $slowest_ms } ms.
demo-setup = Demo: { $subscribers } subscribers (half Telegram, half WhatsApp), lanes at { $telegram_rate } and { $whatsapp_rate } messages/s (0 = unlimited).
demo-dashboard = Dashboard: { $url } · sign in as the demo administrator: { $link }
demo-dashboard-open = The dashboard stays open; Ctrl-C ends the demo and prints the figures.
demo-alert-released = Alert released after { $news } news messages had arrived.
demo-summary =
    Delivered: news { $news_delivered }, alert { $alert_delivered }; lost { $lost }, duplicates { $duplicates }.
    Telegram: { $telegram_rate_achieved }/s achieved (configured { $telegram_rate_configured }), at most { $telegram_max_1s } in any second.
    WhatsApp: { $whatsapp_rate_achieved }/s achieved (configured { $whatsapp_rate_configured }), at most { $whatsapp_max_1s } in any second.
    News fan-out: { $fanout_ms } ms. Alert: first message { $alert_first_send_ms } ms after release ({ $alert_confirm_to_first_ms } ms after the emergency member's press of Send reached { $alert_from }), all in { $alert_complete_s } s.
    Peak memory: { $peak_rss_mb } MiB.
    Ceilings in this run: { $ceiling_http_per_s } loopback HTTP requests/s (throughput { $throughput_ratio } of it), bare insert of the fan-out { $ceiling_insert_ms } ms (fan-out { $fanout_ratio }× it).

## Conversation: citizens
welcome = Welcome to your city's news service! You now receive alerts. Choose more topics below; /help shows everything you can do.
help-citizen =
    /topics – choose topics
    /areas – choose districts or send a location
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
delete-ask = This erases everything we keep about you (subscription, topics, language, districts and a kept place). Tap the button or send /delete { $code } within 15 minutes.
delete-bad-code = That code is wrong or expired. Send /delete to get a new one.
delete-done = All your data is erased. Goodbye!

## Conversation: staff
help-staff =
    Staff:
    /announce TOPIC TEXT – preview an announcement
    /alert TEXT – preview an alert to everyone on alerts
    @DISTRICT,DISTRICT before the text – only for those districts (number or name, _ for spaces)
    On site: first /alert TEXT, then share your location and choose the radius (/radius METRES)
    /update ID TEXT, /allclear ID TEXT – follow-ups to alert ID
    /confirm CODE, /cancel CODE – send or drop a preview
    /status [ID] – progress; /stop_broadcast ID – stop what is not sent yet
    /correct ID TEXT – correct what was sent; /retract ID [TEXT] – take it back
    /login – a link to the dashboard
staff-refused = Sorry, only city staff may do that.
usage-announce = Usage: /announce TOPIC TEXT, for districts only: /announce TOPIC @DISTRICT,DISTRICT TEXT
usage-alert = Usage: /alert TEXT, for districts only: /alert @DISTRICT,DISTRICT TEXT
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
button-open = Open
approval-open = Open in the dashboard: { $url }
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
bad-target = That target does not work: { $reason }
preview-target = Only for: { $areas }. Of them by their district { $district }, by a kept place { $place }, without a district { $none }.
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

## Reach (chat and dashboard previews)
reach-templates = WhatsApp recipients outside the 24-hour window: { $templates } (paid template, about { $cost } EUR)
reach-over-limit = Warning: { $templates } WhatsApp recipients need a template, more than the number's messaging limit of { $limit } people per 24 hours. WhatsApp will refuse the rest.

## Dashboard
login-link = Your dashboard sign-in link (valid 10 minutes, usable once; do not share it): { $link }
login-off = The dashboard is not switched on.
dash-skip = Skip to the content
dash-nav = Main
dash-nav-compose = Compose
dash-nav-approvals = Approvals
dash-nav-broadcasts = Broadcasts
dash-signed-in-as = Signed in as { $person } ({ $role })
dash-sign-out = Sign out
dash-notice = Amtsbote dashboard
dash-back = Back to the dashboard
dash-login-title = Sign in to the dashboard
dash-login-explain = This link signs you in once. Press the button to start your session (it ends after 8 hours, or 30 minutes without use).
dash-sign-in = Sign in
dash-compose-title = Compose a broadcast
dash-field-topic = Topic
dash-field-kind = Kind
dash-default-of-topic = As the topic says
dash-field-priority = Priority
dash-field-parent = The warning it follows (for an update or all-clear)
dash-field-parent-help = Only for an update or all-clear: choose the current warning it follows.
dash-parent-none = — none (a new message or warning) —
dash-field-text = Text
dash-field-when = When
dash-when-now = Now
dash-when-at = Once, at a time
dash-when-cron = Repeatedly (cron)
dash-field-at = Time (city time)
dash-field-cron = Cron expression (city time)
dash-field-cron-help = Six fields: second minute hour day month weekday, e.g. 0 0 8 * * Mon
dash-button-preview = Show preview
dash-button-send = Send broadcast
dash-preview-title = Preview
dash-recipients = Recipients
dash-total = Total
dash-templates = WhatsApp outside the 24-hour window (paid template)
dash-cost = Estimated template cost
dash-next-firings = Next five times
dash-preview-telegram = Telegram
dash-preview-whatsapp = WhatsApp (free text)
dash-preview-template = WhatsApp template (outside the 24-hour window)
dash-template-chars = { $chars } of { $max } characters.
dash-template-cut = The text was cut to fit the template.
dash-status = Status
dash-st-draft = draft
dash-st-awaiting_approval = awaiting approval
dash-st-scheduled = scheduled
dash-st-released = released
dash-st-sending = sending
dash-st-done = done
dash-st-cancelled = cancelled
dash-st-missed = missed
dash-st-recurring = recurring
dash-st-retracted = retracted
dash-deliveries = Deliveries per channel and status
dash-channel = Channel
dash-ds-pending = pending
dash-ds-leased = sending
dash-ds-sent = sent
dash-ds-failed = failed
dash-ds-gone = gone
dash-ds-cancelled = cancelled
dash-chart-title = Messages per second
dash-chart-empty = Nothing sent yet.
dash-failures = Failures by reason
dash-reason = Reason
dash-count = Count
dash-no-failures = No failures.
dash-broadcast-title = Broadcast #{ $id }
dash-approved-by = Approved by { $who }.
dash-button-cancel = Cancel broadcast #{ $id }
dash-all = all
dash-button-filter = Filter
dash-open = open
dash-created = Created
dash-created-by = By
dash-none = No broadcasts.
dash-approvals-explain = Awaiting approval: departments' drafts wait here for the press office, alerts for a second member of the emergency team (two-person rule).
dash-button-approve = Approve broadcast #{ $id }
dash-button-reject = Reject broadcast #{ $id }
dash-no-approvals = Nothing awaits approval.
dash-signed-out = You are not signed in. Send /login to the bot in your chat for a sign-in link.
dash-signed-out-done = You are signed out.
dash-link-refused = This sign-in link is unknown, expired or already used. Send /login to the bot in your chat for a new one.
dash-sign-in-limited = Too many sign-in attempts from this address. Please wait { $seconds } seconds, then try again.
dash-streams-limited = This session has { $streams } live pages open already. Close one of them and reload this page.
dash-csrf-refused = The request was refused: the form's security token is missing or wrong. Reload the page and try again.
dash-unavailable = The dashboard cannot reach its database right now. Please try again shortly.
dash-invalid = That does not work ({ $field }): { $reason }
dash-nav-schedules = Schedules
dash-nav-plan = Editorial calendar
dash-plan-week = Week
dash-plan-month = Month
dash-plan-earlier = Earlier
dash-plan-later = Later
dash-plan-today = Today
dash-plan-views = View and period
dash-plan-legend = Topics
dash-plan-empty = Nothing planned.
dash-plan-move = Move
dash-plan-new-time = New time (DD.MM.YYYY HH:MM)
dash-plan-moved = #{ $id } was moved to { $at }.
dash-plan-calendar = Calendar subscription (iCalendar, e.g. for Outlook)
dash-plan-calendar-about = Your personal secret link to this plan. It is shown once; a new link stops the old one.
dash-plan-calendar-new = Make a new link
dash-plan-calendar-link = Your new link
dash-nav-subscribers = Subscribers
dash-nav-audit = Audit log
dash-schedule-new = Plan a broadcast (compose, then "once" or "repeatedly")
dash-schedule-removed = Schedule S{ $id } removed: nothing more will be sent by it.
dash-recurring = Recurring
dash-next = Next
dash-action = Action
dash-button-remove-schedule = Remove schedule S{ $id }
dash-planned = Planned once
dash-missed = Missed
dash-subscribers-caption = Active subscribers per topic and channel
dash-audit-person = Person
dash-audit-action = Action
dash-audit-at = Time
dash-audit-detail = Detail
dash-subscribers-over-time = Active subscribers over time (daily)
dash-subscribers-chart = Active subscribers of { $topic } per day
dash-chart-no-days = No daily counts yet.
dash-target = Target
dash-target-help = Tick districts or give a circle; with neither, the broadcast goes to the whole city.
dash-target-districts = Districts
dash-target-circle = Or a circle
dash-field-lat = Latitude of the centre
dash-field-lon = Longitude of the centre
dash-field-radius = Radius in metres
dash-field-circle-help = Degrees, e.g. 49.0195 and 12.0975; a radius above 0 and at most 50,000 m.
dash-target-both = Choose districts or a circle, not both.
dash-target-not-a-number = "{ $typed }" is not a number.
dash-target-whole-city = The whole city
dash-target-counts = Recipients by how the target reaches them
dash-group = Group
dash-group-by_district = By their chosen district
dash-group-by_place = By their kept place inside the target
dash-group-without_area = Without a district (they get everything)
dash-group-total = Total
dash-map-alt = Map of the target area. { $description }
dash-map-needs-target = For a map, first tick districts or enter a circle.
dash-map-title = Map of the city's districts
dash-map-whole-city = The whole city: every district is targeted.
dash-map-districts = Targeted districts: { $areas }.
dash-map-circle = A circle of { $radius } m around { $lat }, { $lon }; the districts it touches: { $areas }.
dash-map-polygon = An area drawn as a polygon; the districts it touches: { $areas }.
dash-subscribers-districts = Active subscribers per district (who chose it)
dash-district = District
dash-subscribers = Subscribers
## Drills
drill-marker = ÜBUNG / EXERCISE
usage-drill = How to: /drill TEXT — a drill of the whole alert path (preview, approval, sending at alert priority), to the staff only.
drill-report = Drill #{ $id } finished: { $recipients } recipients, { $sent } reached; first message { $first_ms } ms after release, all after { $complete_s } s.

## Official warnings (NINA / CAP)
warnings-none-active = No active official warning for the area.
demo-instances-setup = Demo: { $instances } instances of “amtsbote run” on one Postgres database, { $subscribers } subscribers (half Telegram, half WhatsApp), each lane at { $rate } messages/s for all instances together.
demo-instances-event = { $at } s: { $event ->
        [kill] SIGKILL for
        [stop] SIGSTOP for
       *[cut] database link cut for
    } { $instance } (it held { $roles }).
demo-instances-summary =
    News delivered to { $delivered } of { $recipients }, the alert to { $alert_delivered } of { $alert_recipients }; lost { $lost }, duplicates { $duplicates } (sent but not yet recorded at the kills, freezes and cuts: { $in_flight_at_kills }).
    Busiest second at the platforms, all instances together: Telegram { $telegram_max_1s }, WhatsApp { $whatsapp_max_1s } (each lane at { $rate }/s).
    An alert released on an instance without the lanes: first message { $alert_first_send_ms } ms after release. Instances whose /metrics say they hold the Telegram lane: { $telegram_lane_gauge_holders }.
demo-instances-failover = { $event ->
        [kill] SIGKILL
        [stop] SIGSTOP
       *[cut] Cut
    } { $instance }, { $role }: another instance held it after { $holder_ms } ms, its next message arrived after { $send_ms } ms.
demo-instances-cut = Cut off from the database: its last message { $stopped_ms } ms after the cut, another instance held the Telegram lane after { $takeover_ms } ms; after the link returned it sent { $stale } messages another instance had already sent.
demo-instances-resume = Frozen and resumed: afterwards it sent { $stale } messages another instance had already sent.
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

# Areas
cmd-areas = Choose districts or send a location
welcome-with-areas = Welcome to your city's news service! You now receive alerts. Choose more topics below; /help shows everything you can do.
    Tip: with /areas you get news for your districts only.
areas-header = Your districts: { $chosen }. { $place ->
        [yes] A place for warnings near you is kept (rounded to about 100 m).
       *[no] {""}
    }
    Tap to switch on and off. With none chosen you get everything from the whole city; news for the whole city always reaches you.
areas-whole-city = whole city
button-whole-city = 🏙 Whole city
button-share-location = 📍 Send location
button-forget-place = Forget my place
button-back = ◀ Back
button-more = More ▶
location-ask = Tap "Send location": the city learns your district from it.
button-send-location = 📍 Send location
location-in-district = Your location is in { $area }. You now also get news for this district.
location-keep-offer = Keep this place for warnings near me? Then, for example, an evacuation within 300 m of it reaches you. It is kept only with your consent and rounded to about 100 m; /areas shows and removes it. Without consent only the district is kept.
button-keep-place = Yes, keep it
button-no-place = No, district only
location-kept = Your place is kept (rounded to about 100 m). /areas shows and removes it, /delete erases everything.
location-not-kept = All right: only the district is kept, not the place.
location-outside = This location is outside the city. Nothing was changed.
location-invalid = That is not a valid location ({ $reason }). Nothing was changed.
location-no-areas = This city has no districts set up: you get all news.
place-forgotten = Your place is erased.
cli-preview-target-groups = of them: { $district } by their district, { $place } by their kept place, { $none } without a district

## Corrections and retractions
retraction-line = RETRACTED: The message of { $time } is void.
retraction-notice =
    { $line }

    { $text }
correction-notice = Correction: { $text }
kind-correction = correction
kind-retraction = retraction
usage-correct = Usage: /correct ID TEXT (the whole new text). Silently, only edited and without a notice (news only, only where messages can be edited): /correct ID --silent TEXT
usage-retract = Usage: /retract ID [TEXT] — takes back a sent broadcast: what is not sent yet stops, everyone who received it gets a retraction.
preview-retract =
    Retraction of broadcast #{ $id } (topic { $topic }). At once: what is not sent yet stops, follow-ups end, and { $total } recipients (Telegram { $telegram }, WhatsApp { $whatsapp }) get, before anything else:

    { $text }

    On Telegram the original message then begins with the retraction line.
    Retract: /confirm { $code } · Cancel: /cancel { $code }
retracted-ok = Broadcast #{ $id } is retracted; the retraction (#{ $notice }) goes to everyone who received it.
not-sent-yet = Broadcast #{ $id } is { $status }: only what was sent can be retracted or corrected; /stop_broadcast { $id } stops what is not sent yet.
not-correctable = Broadcast #{ $id } cannot be corrected like this: { $reason }.
button-retract = Retract
cli-corrected = Broadcast #{ $id } is corrected (version { $version }, correction #{ $correction }); what is not sent yet goes with the new text, { $recipients } recipients get the correction.
cli-correction-awaits = Correction #{ $correction } of broadcast #{ $id } waits for a second member of the emergency team to approve it.
dash-correct-title = Correct
dash-correct-text = The whole new text
dash-correct-notice = Tell the recipients with a notice (without: only edit silently on Telegram; news only)
dash-correct-button = Send the correction
dash-retract-title = Retract
dash-retract-text = Your own text after the retraction line (optional)
dash-retract-button = Retract broadcast #{ $id } now
dash-versions = Versions
dash-version-line = Version { $version }, { $at }, { $by }{ $notice }
dash-version-silent = , silent
dash-outlets = Other outlets
dash-outlet-post = post
dash-outlet-correct = correction
dash-outlet-retract = retraction
dash-outlet-st-pending = waiting
dash-outlet-st-leased = being sent
dash-outlet-st-sent = published
dash-outlet-st-failed = failed
dash-outlet-st-skipped = not needed
dash-outlet-st-manual = to post by hand
dash-outlet-link = view
dash-outlet-copy = Text to copy
dash-outlet-posted-button = Posted by hand
dash-outlet-posted-line = posted by hand by { $who } at { $at }
dash-notices = Corrections and retraction
demo-retract-text = The demo takes its warning back.
demo-outlets-summary =
    The same alert to { $subscribers } recipients three times: without outlets the first message { $off_first_send_ms } ms after the release, Telegram { $off_telegram_per_s }/s, WhatsApp { $off_whatsapp_per_s }/s; with Mastodon, Bluesky, the Telegram channel and the webhook { $on_first_send_ms } ms, Telegram { $on_telegram_per_s }/s, WhatsApp { $on_whatsapp_per_s }/s; without again { $off_again_first_send_ms } ms, Telegram { $off_again_telegram_per_s }/s, WhatsApp { $off_again_whatsapp_per_s }/s (with ÷ without: first message { $first_send_ratio }, rate { $rate_ratio }).
    Posts: Mastodon { $mastodon_posts }, Bluesky { $bluesky_posts }, Telegram channel { $telegram_channel_posts }, webhook { $webhook_posts } (duplicates { $outlet_duplicates }), the last { $outlets_done_ms } ms after the release; lost { $lost }, duplicates { $duplicates }.
demo-retract-summary =
    Alert to { $alerted } recipients (Telegram { $telegram_rate_achieved }/s of { $telegram_rate_configured }/s, WhatsApp { $whatsapp_rate_achieved }/s of { $whatsapp_rate_configured }/s), then retracted; { $alerts_after_confirmation } alerts after that (in flight).
    Retraction notices: { $notices }, lost { $lost }, duplicates { $duplicates }; the first { $first_notice_ms } ms after the confirmation, the last after { $last_notice_s } s (N/R { $notices_over_rate_s } s); edits until { $last_edit_s } s. Peak memory { $peak_rss_mb } MiB.
## On site: an alert around one's own location
onsite-radius-ask = Alert “{ $text }” only around this place ({ $place })? Choose the radius – a new preview with the recipients follows.
button-radius-other = Other radius
onsite-radius-other = Write the radius in metres, e.g. /radius 750
usage-radius = Usage: /radius METRES (after sharing a location for an open alert preview)
radius-no-place = There is no place for a radius: first /alert TEXT, then share your location.
onsite-draft-gone = That preview is gone (sent, dropped or expired). /alert TEXT starts a new one.

## Public archive and check
cmd-latest = The latest news on my topics
archive-footer = Real? { $link }
preview-outlets = Outlets:
preview-outlet-text = { $outlet }: { $text }
preview-outlet-as-above = { $outlet }: as above
preview-outlet-not-posted = { $outlet }: { $why }
outlet-not-posted-drill = not posted – a drill stays with the staff
outlet-not-posted-topic = not posted – this topic is not taken there
outlet-not-posted-alerts = not posted – alerts are not taken there
dash-outlet-preview = What the outlets post
preview-footer = Under it: { $line }
preview-picture = 📎 Picture: { $width } × { $height } pixels, { $size }, metadata removed. Alternative text: { $alt }
preview-document = 📎 Document: { $name }, { $size }
attachment-no-command = I attach a picture or document to a broadcast when the command is its caption, e.g. “/announce traffic The diversion from Monday” and a line “Picture: map of the diversion via Ring Road” (alternative text), or when you send it on Telegram as a reply to a draft’s preview.
attachment-needs-alt = A picture needs an alternative text for people who cannot see it: add a caption line “Picture: …” that says what it shows. Nothing was created.
attachment-refused = This file cannot be sent: { $reason }. Nothing was created.
attachment-unavailable = I cannot fetch files from this chat right now. Please attach it on the dashboard.
attachment-citizen = I cannot read pictures or files. Send me /help to see what I can do.
check-pointer = Got a forwarded message? Forward it to me and I will tell you whether it really is from the city.
check-genuine = ✅ Real: the city sent this on { $time }.
check-corrected = ⚠️ From us, but corrected: the message of { $time } now reads:
check-retracted = ❌ From us, but retracted: the message of { $time } no longer applies.
check-not-ours-close = ❌ Not from us: no message of the city reads like this. The real message of { $time } reads:
check-not-ours = ❌ Not from us: no message of the city matches it.
check-official = All official messages: { $link }
latest-head = The latest news on your topics:
latest-none = There is no news on your topics yet.
latest-off = The archive is not set up here.
archive-title = News from the city
archive-skip = Skip to content
archive-nav = Archive
archive-nav-archive = All news
archive-nav-check = Check a message
archive-other-language = Deutsch
archive-feed-atom = News as an Atom feed
archive-feed-rss = News as an RSS feed
archive-feed-json = News as a JSON feed
archive-footer-note = The city's official messages as sent on Telegram and WhatsApp. These pages keep nothing about you.
archive-list-title = All news
archive-filter-topic = Topic
archive-filter-all = All topics
archive-filter-area = District
archive-filter-city = Whole city
archive-filter-show = Show
archive-empty = There is no news here yet.
archive-older = Older news
archive-for-areas = for { $areas }
archive-retracted = Retracted
archive-retracted-long = This message was retracted: it no longer applies.
archive-corrected = Corrected on { $time }
archive-former = Earlier versions
archive-former-version = Version { $version }
archive-code = Check code: { $code }
archive-document = The document (PDF, { $size })
archive-follow-ups = Follow-ups
archive-parent = To the original alert
archive-parent-changed = To the message it changes
archive-back = Back to all news
archive-kind-announcement = News
archive-kind-alert = Alert
archive-kind-update = Update
archive-kind-allclear = All-clear
archive-kind-correction = Correction
archive-kind-retraction = Retraction
archive-not-found = There is no such message
archive-not-found-hint = The code is wrong or belongs to no message of the city. A message with this code is not from us.
archive-check-title = Is this message real?
archive-check-intro = Paste the text of a message or its check code. We compare it with all the city's messages of the last 90 days and keep nothing of it.
archive-check-label = Text or check code
archive-check-button = Check
archive-check-open = See the message ({ $code })
archive-check-too-long = The text is too long: at most 8000 characters.
archive-check-too-many = Too many checks in a short time. Please try again in a minute.
archive-check-unavailable = The check is not possible right now. Please try again later.
dash-media = Picture or document
dash-field-alt = Alternative text: what the picture shows
dash-field-alt-help = Required for a picture. Shown on the archive page and here; messengers cannot carry it.
dash-field-file = Attach a picture (JPEG, PNG, WebP) or a PDF
dash-field-file-help = Attach first, then write the text. A picture is cleaned of its metadata (EXIF, GPS position) before it is kept; at most 5 MB for a picture and 50 MB for a PDF.
dash-button-map = Attach the target’s map as a picture
dash-button-upload = Attach
dash-preview-reply-note = The text is longer than a caption (1,024 characters): the picture goes first, the text follows as a reply to it.

## The desk: departments' drafts for the press office (issue 25)
help-contributor =
    Department:
    /draft TOPIC TEXT – a draft for the press office, which checks, edits, approves or rejects it
    /login – a link to the dashboard
usage-draft = Usage: /draft TOPIC TEXT
usage-edit = Usage: /edit ID NEW TEXT (the draft's ID)
usage-reject = Usage: /reject ID REASON (the draft's ID)
drafts-only = Sorry, as a department you write drafts for the press office (/draft TOPIC TEXT); only the press office sends, schedules, alerts, stops or approves. Nothing was created.
topic-not-allowed = Sorry, your department may not write drafts on this topic. Nothing was created.
draft-submitted = Your draft #{ $id } (topic { $topic }) awaits the press office's approval. You will hear here what becomes of it.
draft-from = Draft #{ $id } by { $author } ({ $department }). Edit: /edit { $id } NEW TEXT · Reject with a reason: /reject { $id } REASON
draft-edit-ok = Draft #{ $id } is changed; the department has been told. Approve it with the button in the request.
draft-reject-ok = Draft #{ $id } is rejected; the department knows why.
draft-edited =
    The press office ({ $by }) changed your draft #{ $id }.
    Before: { $before }
    Now: { $after }
draft-rejected = The press office ({ $by }) rejected your draft #{ $id }: { $reason }
draft-approved = The press office ({ $by }) approved your draft #{ $id }; it is being sent now.
draft-approved-scheduled = The press office ({ $by }) approved your draft #{ $id }; it goes out on { $at }.
draft-expired = Your draft #{ $id } was dropped after { $days } days without approval. Write it again if it is still needed.
dash-button-propose = Submit to the press office
dash-draft-by = Draft by { $author } ({ $department })
dash-draft-text = Text (the department sees any change)
dash-draft-at = Send on (blank: now)
dash-draft-at-help = Date and time in city time, e.g. 24.12.2026 18:00
dash-draft-reason = Reason for rejecting (the department is told)
usage-template = Usage: /template NAME field=value field=value … Templates: { $names }
template-refused = The template cannot be filled in like this: { $reason }
dash-nav-templates = Templates
dash-templates-explain = Texts with fields in braces, e.g. "Road closed: {"{"}strasse{"}"} from {"{"}von{"}"} to {"{"}bis{"}"}." Every change is kept as a new version.
dash-template-name = Name
dash-template-version = Version
dash-template-saved-by = Saved by
dash-template-use = Use { $name }
dash-template-new = New template or new version
dash-template-text-help = Fields in braces, e.g. {"{"}strasse{"}"}; a template for the alerts topic is an alert (emergency staff only).
dash-template-alert-help = A warning (topic alerts) saved without a text gets the control room's fields: event, area, danger, what to do and who issued it.
template-field-event = Event (what happens)
template-field-areaDesc = Area (where)
template-field-description = Danger
template-field-instruction = What to do
template-field-senderName = Issued by
dash-template-save = Save template
dash-template-fill = Fill in template "{ $name }"
dash-template-insert = Put into the broadcast
dash-template-choose = Choose template
dash-when-repeat = Repeat
dash-field-repeat = How often
dash-repeat-daily = every day
dash-repeat-weekdays = every weekday (Mon–Fri)
dash-repeat-weekly = every week on …
dash-repeat-first = every first … of the month
dash-field-weekday = Weekday
dash-weekday-Mon = Monday
dash-weekday-Tue = Tuesday
dash-weekday-Wed = Wednesday
dash-weekday-Thu = Thursday
dash-weekday-Fri = Friday
dash-weekday-Sat = Saturday
dash-weekday-Sun = Sunday
dash-field-time = at (time of day, e.g. 08:00)
dash-advanced = Advanced
dash-built-cron = The schedule as a cron expression:

## The team page (Mitarbeitende)
dash-nav-team = Team
dash-role-press = Press office
dash-role-emergency = Emergency staff
dash-role-admin = Administration
dash-role-contributor = Department
dash-team-explain = Who writes on the city's behalf: every person with their role, their department and topics (departments) and the channels they write from.
dash-team-person = Name
dash-team-person-help = A name the team knows the person by (letters, digits, spaces, dot, hyphen). A second address of the same person gets the same name.
dash-team-role = Role
dash-team-department = Department
dash-team-department-help = For a department only, e.g. Tiefbauamt.
dash-team-topics = Topics
dash-team-topics-help = For a department only: the topics it drafts for, separated by commas. Available: { $topics }
dash-team-channels = Channels
dash-team-channel = Channel
dash-team-address = Address
dash-team-address-help = Telegram: the user id (a number). WhatsApp: the number in digits without +, e.g. 4917012345678.
dash-team-add = Add a person
dash-team-add-button = Add
dash-team-remove = Remove { $person }
dash-team-removed = { $person } is no longer on the team.
dash-team-refused = Only the administration adds or removes staff. Nothing was changed.
dash-team-bad-channel = Please choose Telegram or WhatsApp as the channel. Nothing was changed.
dash-team-bad-role = Please choose a role. Nothing was changed.
dash-team-bad-name = A name has letters, digits, spaces, dots, hyphens and underscores only (64 characters at most). Nothing was changed.
dash-team-bad-address = "{ $typed }" is no { $channel } address: Telegram needs the user id (a number), WhatsApp the number in digits without +. Nothing was changed.
dash-team-needs-person = A department needs a name: its drafts are a person's. Nothing was changed.
dash-team-needs-desk = A department needs a department name and at least one topic. Nothing was changed.
dash-team-desk-only = Department and topics are for a department only; leave them empty for other roles. Nothing was changed.
dash-team-unknown-topic = There is no topic "{ $topic }"; available: { $valid }. Nothing was changed.
dash-team-address-taken = The address { $address } already belongs to { $owner }; remove it there first. Nothing was changed.
dash-team-other-role = { $person } already has the role { $role }; a person has one role. To change it, remove { $person } and add their addresses again. Nothing was changed.
dash-team-conflict = The team was just changed elsewhere ({ $reason }). Nothing was changed; please reload the page.
dash-team-not-staff = { $person } is not on the team.
