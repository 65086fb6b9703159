# Texts for staff and citizens, English. Every key here must exist in de.ftl too.

## CLI: amtsbote broadcast
cli-preview-header = Preview: { $kind } on topic “{ $topic }”, priority { $priority }
cli-preview-recipients = Recipients: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
cli-preview-not-sent = Nothing was sent. Run the same command with --yes to send it.
cli-released = Broadcast #{ $id } is released to { $total } recipients. A running `amtsbote run` delivers it now; otherwise the next start does.
cli-already-created = Broadcast #{ $id } was already created with this idempotency key (status: { $status }). Nothing new was sent.
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
