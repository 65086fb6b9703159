# Texte für Mitarbeitende und Bürgerinnen und Bürger, Deutsch. Jeder Schlüssel muss auch in en.ftl stehen.

## CLI: amtsbote broadcast
cli-preview-header = Vorschau: { $kind } zum Thema „{ $topic }“, Priorität { $priority }
cli-preview-recipients = Empfänger: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
cli-preview-not-sent = Es wurde nichts gesendet. Mit --yes wird die Meldung versandt.
cli-released = Meldung #{ $id } ist an { $total } Empfänger freigegeben. Ein laufendes `amtsbote run` stellt sie jetzt zu, sonst der nächste Start.
cli-already-created = Meldung #{ $id } wurde mit diesem Idempotenzschlüssel schon angelegt (Status: { $status }). Es wurde nichts Neues gesendet.
cli-cancelled = Meldung #{ $id } ist abgebrochen; davon wird nichts mehr gesendet.
cli-not-cancelled = Meldung #{ $id } war schon beendet; nichts abzubrechen.

## CLI: amtsbote stats
stats-none = Noch keine Meldungen.
stats-failure = #{ $id }: { $count } fehlgeschlagen: { $reason }
stats-lane-paused = Kanal { $channel } pausiert bis { $until } (die Plattform sagt: { $reason }).

## Die Demo
demo-news-text = Stadtnachricht { $run }: Das Rathaus ist am Samstag von 10 bis 14 Uhr geöffnet.
demo-alert-text = WARNUNG { $run }: Unwetterwarnung für das gesamte Stadtgebiet. Bleiben Sie im Haus.
demo-setup = Demo: { $subscribers } Abonnenten (je zur Hälfte Telegram und WhatsApp), Kanäle mit { $telegram_rate } und { $whatsapp_rate } Nachrichten/s (0 = unbegrenzt).
demo-alert-released = Warnung freigegeben, nachdem { $news } Nachrichten angekommen waren.
demo-summary =
    Zugestellt: Nachrichten { $news_delivered }, Warnung { $alert_delivered }; verloren { $lost }, doppelt { $duplicates }.
    Telegram: { $telegram_rate_achieved }/s erreicht (eingestellt { $telegram_rate_configured }), höchstens { $telegram_max_1s } in einer Sekunde.
    WhatsApp: { $whatsapp_rate_achieved }/s erreicht (eingestellt { $whatsapp_rate_configured }), höchstens { $whatsapp_max_1s } in einer Sekunde.
    Nachrichten-Fan-out: { $fanout_ms } ms. Warnung: erste Nachricht { $alert_first_send_ms } ms nach Freigabe, alle in { $alert_complete_s } s.
    Spitzenspeicher: { $peak_rss_mb } MiB.
