# Texte für Mitarbeitende und Bürgerinnen und Bürger, Deutsch. Jeder Schlüssel muss auch in en.ftl stehen.

## CLI: amtsbote broadcast
cli-preview-header = Vorschau: { $kind } zum Thema „{ $topic }“, Priorität { $priority }
cli-preview-recipients = Empfänger: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
cli-preview-target = Nur für: { $areas } (und wer keinen Bezirk gewählt hat)
cli-preview-media = Mit { $kind ->
    [picture] Bild
   *[other] Dokument
 }: { $what }, { $size } (Metadaten entfernt). Alternativtext: { $alt }
demo-picture-summary = Text: { $text_per_s } Nachrichten/s; mit Bild: { $picture_per_s } Nachrichten/s (Verhältnis { $ratio }). Uploads: Telegram { $uploads_tg }, WhatsApp { $uploads_wa }. Speicher höchstens: { $rss_text } MB mit Text, { $rss_picture } MB mit Bild.
cli-preview-not-sent = Es wurde nichts gesendet. Mit --yes wird die Meldung versandt.
cli-released = Meldung #{ $id } ist an { $total } Empfänger freigegeben. Ein laufendes `amtsbote run` stellt sie jetzt zu, sonst der nächste Start.
cli-already-created = Meldung #{ $id } wurde mit diesem Idempotenzschlüssel schon angelegt (Status: { $status }). Es wurde nichts Neues gesendet.
cli-awaiting = Meldung #{ $id } wartet auf die Freigabe durch ein zweites Mitglied des Notfallteams; ein laufendes `amtsbote run` fragt im Chat nach.
cli-scheduled = Meldung #{ $id } ist geplant für { $at }.
cli-cancelled = Meldung #{ $id } ist abgebrochen; davon wird nichts mehr gesendet.
cli-not-cancelled = Meldung #{ $id } war schon beendet; nichts abzubrechen.

## CLI: amtsbote stats
stats-none = Noch keine Meldungen.
stats-failure = #{ $id }: { $count } fehlgeschlagen: { $reason }
stats-lane-paused = Kanal { $channel } pausiert bis { $until } (die Plattform sagt: { $reason }).
stats-role-held = Rolle { $role }: { $holder } (Token { $token }, Lease noch { $ms } ms).
stats-role-free = Rolle { $role }: frei (zuletzt { $holder }, Token { $token }).

## Die Demo
demo-news-text = Stadtnachricht { $run }: Das Rathaus ist am Samstag von 10 bis 14 Uhr geöffnet.
demo-alert-text = WARNUNG { $run }: Unwetterwarnung für das gesamte Stadtgebiet. Bleiben Sie im Haus.
demo-staff-text = Baustelle { $run }: Die Brücke in der Hauptstraße ist am Montag gesperrt.
demo-signups = Anmeldungen: { $answered } von { $signups } beantwortet, { $per_s } pro Sekunde, die langsamste nach { $slowest_ms } ms; die Vorschau der Pressestelle kam nach { $staff_ms } ms ({ $news_pending } Nachrichten standen zu Beginn noch aus).
demo-locations = Standorte derselben Personen: { $answered } beantwortet, { $per_s } pro Sekunde ({ $ratio } × so schnell wie die Anmeldungen), der langsamste nach { $slowest_ms } ms.
demo-setup = Demo: { $subscribers } Abonnenten (je zur Hälfte Telegram und WhatsApp), Kanäle mit { $telegram_rate } und { $whatsapp_rate } Nachrichten/s (0 = unbegrenzt).
demo-dashboard = Dashboard: { $url } · als Demo-Administrator anmelden: { $link }
demo-dashboard-open = Das Dashboard bleibt offen; Strg-C beendet die Demo und zeigt die Zahlen.
demo-alert-released = Warnung freigegeben, nachdem { $news } Nachrichten angekommen waren.
demo-summary =
    Zugestellt: Nachrichten { $news_delivered }, Warnung { $alert_delivered }; verloren { $lost }, doppelt { $duplicates }.
    Telegram: { $telegram_rate_achieved }/s erreicht (eingestellt { $telegram_rate_configured }), höchstens { $telegram_max_1s } in einer Sekunde.
    WhatsApp: { $whatsapp_rate_achieved }/s erreicht (eingestellt { $whatsapp_rate_configured }), höchstens { $whatsapp_max_1s } in einer Sekunde.
    Nachrichten-Fan-out: { $fanout_ms } ms. Warnung: erste Nachricht { $alert_first_send_ms } ms nach Freigabe ({ $alert_confirm_to_first_ms } ms nachdem der Druck der Einsatzleitung auf Senden bei { $alert_from } ankam), alle in { $alert_complete_s } s.
    Spitzenspeicher: { $peak_rss_mb } MiB.
    Obergrenzen in diesem Lauf: { $ceiling_http_per_s } HTTP-Anfragen/s über Loopback (Durchsatz { $throughput_ratio } davon), bloßes Einfügen der Verteilung { $ceiling_insert_ms } ms (Verteilung { $fanout_ratio }× so lang).

## Gespräch: Bürgerinnen und Bürger
welcome = Willkommen beim Nachrichtendienst Ihrer Stadt! Sie erhalten jetzt Warnungen. Wählen Sie unten weitere Themen; /hilfe zeigt alles, was Sie tun können.
help-citizen =
    /themen – Themen wählen
    /bezirke – Bezirke wählen oder Standort senden
    /abonnieren THEMA, /abbestellen THEMA – nach Namen
    /sprache de|en – Sprache
    /stop – keine Nachrichten mehr (bis /start)
    /loeschen – alle Ihre Daten löschen
help-pointer = Das habe ich nicht verstanden. /hilfe zeigt, was ich kann.
error-try-again = Entschuldigung, bei uns ist etwas schiefgegangen. Bitte versuchen Sie es gleich noch einmal.
topics-header = Ihre Themen (antippen zum Ein- und Ausschalten):
unknown-topic = Unbekanntes Thema „{ $topic }“. Themen: { $valid }
subscribed = Sie erhalten jetzt: { $topic }.
unsubscribed = Sie erhalten nicht mehr: { $topic }.
unsubscribed-alerts = Sie erhalten keine { $topic } mehr. Achtung: Sie werden dann nicht über Notfälle in der Stadt informiert. /abonnieren Warnungen schaltet sie wieder ein.
language-set = Ab jetzt schreibe ich auf Deutsch.
language-unknown = Verfügbare Sprachen: { $valid }
stopped = Sie erhalten keine Nachrichten mehr. Mit /start geht es wieder los.
button-delete = Alle meine Daten löschen
delete-ask = Damit löschen wir alles, was wir über Sie speichern (Abonnement, Themen, Sprache, Bezirke und einen gemerkten Standort). Tippen Sie auf den Knopf oder senden Sie innerhalb von 15 Minuten /loeschen { $code }.
delete-bad-code = Der Code ist falsch oder abgelaufen. Mit /loeschen erhalten Sie einen neuen.
delete-done = Alle Ihre Daten sind gelöscht. Auf Wiedersehen!

## Gespräch: Mitarbeitende
help-staff =
    Mitarbeitende:
    /meldung THEMA TEXT – Meldung als Vorschau
    /warnung TEXT – Warnung an alle mit Warnungen, als Vorschau
    @BEZIRK,BEZIRK vor dem Text – nur für diese Bezirke (Nummer oder Name, _ statt Leerzeichen)
    Vor Ort: erst /warnung TEXT, dann den Standort teilen und den Radius wählen (/radius METER)
    /aktualisierung ID TEXT, /entwarnung ID TEXT – Folgemeldungen zur Warnung ID
    /confirm CODE, /cancel CODE – Vorschau senden oder verwerfen
    /status [ID] – Fortschritt; /stop_broadcast ID – Ungesendetes stoppen
    /korrektur ID TEXT – Gesendetes korrigieren; /widerruf ID [TEXT] – Gesendetes zurücknehmen
    /login – ein Anmeldelink für das Dashboard
staff-refused = Entschuldigung, das dürfen nur Mitarbeitende der Stadt.
usage-announce = So geht es: /meldung THEMA TEXT, nur für Bezirke: /meldung THEMA @BEZIRK,BEZIRK TEXT
usage-alert = So geht es: /warnung TEXT, nur für Bezirke: /warnung @BEZIRK,BEZIRK TEXT
usage-follow-up = So geht es: /aktualisierung ID TEXT oder /entwarnung ID TEXT (ID der Warnung)
usage-status = So geht es: /status [ID]
usage-stop-broadcast = So geht es: /stop_broadcast ID
not-an-alert = Meldung #{ $id } ist keine Warnung.
bad-text = Der Text kann nicht gesendet werden: { $reason }.
kind-announcement = Meldung
kind-alert = WARNUNG
kind-update = Aktualisierung der Warnung
kind-allclear = Entwarnung
button-send = Senden
button-approve = Freigeben
button-drop = Verwerfen
button-open = Öffnen
approval-open = Im Dashboard öffnen: { $url }
button-cancel = Abbrechen
preview =
    Vorschau der { $kind } (Thema { $topic }, Priorität { $priority }), genau so, wie die Empfänger sie sehen:

    { $text }

    Empfänger: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
    Senden: /confirm { $code } · Abbrechen: /cancel { $code }
preview-needs-approval =
    Vorschau der { $kind } (Thema { $topic }, Priorität { $priority }), genau so, wie die Empfänger sie sehen:

    { $text }

    Empfänger: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
    Senden: /confirm { $code } · Abbrechen: /cancel { $code }
    Nach dem Senden muss ein anderes Mitglied des Notfallteams sie freigeben.
preview-approve =
    Bitte geben Sie diese { $kind } frei (Thema { $topic }):

    { $text }

    Empfänger: { $total } (Telegram { $telegram }, WhatsApp { $whatsapp })
    Freigeben: /confirm { $code } · Verwerfen: /cancel { $code }
awaits-approval = Meldung #{ $id } wartet auf Freigabe: Das Notfallteam ist gefragt. /stop_broadcast { $id } zieht sie zurück.
approved = Meldung #{ $id } ist freigegeben und unterwegs.
confirm-refused = Entschuldigung, das dürfen Sie mit diesem Code nicht. Er bleibt für jemanden gültig, der es darf.
not-awaiting = Meldung #{ $id } ist { $status }: Mit diesem Code ist nichts mehr zu tun.
schedule-refused = Entschuldigung, den Zeitplan einer Warnung darf nur das Notfallteam entfernen.
needs-emergency = Entschuldigung, das darf bei einer Warnung, Aktualisierung oder Entwarnung nur das Notfallteam. Es wurde nichts geändert.
confirm-own = Ihre eigene Warnung können Sie nicht selbst freigeben: Das muss ein anderes Mitglied des Notfallteams tun.
confirm-unknown = Code { $code } ist unbekannt, abgelaufen oder schon benutzt.
preview-cancelled = Verworfen; es wurde nichts gesendet.
released = Meldung #{ $id } ist freigegeben und unterwegs.
broadcast-stopped = Meldung #{ $id } ist gestoppt; was noch nicht gesendet war, wird nicht mehr gesendet.
broadcast-not-stopped = Meldung #{ $id } war schon beendet.
broadcast-unknown = Es gibt keine Meldung #{ $id }.
status-line = #{ $id } { $status } ({ $kind }, { $topic }): Telegram gesendet { $tg_sent }, offen { $tg_open }, fehlgeschlagen { $tg_failed }, weg { $tg_gone } · WhatsApp gesendet { $wa_sent }, offen { $wa_open }, fehlgeschlagen { $wa_failed }, weg { $wa_gone }
status-paused = Der Kanal { $channel } ist von der Plattform noch { $seconds } Sekunden pausiert.

## Telegram-Befehlsmenü
cmd-start = Abonnieren (Warnungen) und Themen wählen
cmd-topics = Themen wählen
cmd-language = Sprache: /sprache de oder en
cmd-help = Was ich kann
cmd-stop = Keine Nachrichten mehr
cmd-delete = Alle meine Daten löschen
cmd-status = Mitarbeitende: Fortschritt der Meldungen

## WhatsApp
wa-list-button = Auswählen
welcome-whatsapp = Hallo! Hier ist der Nachrichtendienst Ihrer Stadt. Senden Sie START, um Warnungen zu erhalten und Themen zu wählen; HILFE zeigt alles, was Sie tun können.
preview-whatsapp-version = WhatsApp-Empfänger außerhalb des 24-Stunden-Fensters erhalten sie so: { $text }

## Planung
usage-schedule =
    So geht es: /schedule 2026-12-01 08:00 THEMA TEXT (Ortszeit)
    oder /schedule_cron S M H TAG MONAT WOCHENTAG THEMA TEXT, z. B. /schedule_cron 0 0 8 * * Thu news …
bad-target = Dieses Ziel geht nicht: { $reason }
preview-target = Nur für: { $areas }. Davon über ihren Bezirk { $district }, über einen gemerkten Standort { $place }, ohne Bezirk { $none }.
bad-schedule = Diese Planung geht nicht: { $reason }
preview-at = Geplant für { $at }.
preview-recurring = Wiederholt sich ({ $expr }), nächstes Mal am { $next }.
scheduled-ok = Meldung #{ $id } ist für { $at } geplant. /scheduled zeigt alles Geplante; /unschedule { $id } entfernt sie.
schedule-created = Planung { $id } ist eingerichtet; nächstes Mal am { $next }. /unschedule { $id } entfernt sie.
planned-once = #{ $id } am { $at } ({ $topic }): { $text }
planned-recurring = { $id } { $expr }, nächstes Mal am { $next } ({ $topic }): { $text }
planned-none = Nichts ist geplant.
unscheduled = { $id } ist aus der Planung entfernt.
unschedule-unknown = { $id } ist nicht geplant (#ID für eine Meldung, S ID für eine wiederkehrende).
schedule-missed = Meldung #{ $id } war geplant, während der Dienst nicht lief, und ist jetzt zu spät: Sie wurde nicht gesendet.
schedule-missed-recurring = Planung S{ $id } war fällig, während der Dienst nicht lief, und wurde diesmal ausgelassen.

## Reichweite (Vorschau im Chat und im Dashboard)
reach-templates = WhatsApp-Empfänger außerhalb des 24-Stunden-Fensters: { $templates } (kostenpflichtige Vorlage, etwa { $cost } EUR)
reach-over-limit = Achtung: { $templates } WhatsApp-Empfänger brauchen eine Vorlage, mehr als das Nachrichtenlimit der Nummer von { $limit } Personen je 24 Stunden. WhatsApp lehnt den Rest ab.

## Dashboard
login-link = Ihr Anmeldelink für das Dashboard (10 Minuten gültig, einmal nutzbar; nicht weitergeben): { $link }
login-off = Das Dashboard ist nicht eingeschaltet.
dash-skip = Zum Inhalt springen
dash-nav = Hauptmenü
dash-nav-compose = Verfassen
dash-nav-approvals = Zur Freigabe
dash-nav-broadcasts = Meldungen
dash-signed-in-as = Angemeldet als { $person } ({ $role })
dash-sign-out = Abmelden
dash-notice = Amtsbote-Dashboard
dash-back = Zurück zum Dashboard
dash-login-title = Beim Dashboard anmelden
dash-login-explain = Dieser Link meldet Sie einmal an. Drücken Sie die Schaltfläche, um Ihre Sitzung zu beginnen (sie endet nach 8 Stunden oder nach 30 Minuten ohne Nutzung).
dash-sign-in = Anmelden
dash-compose-title = Meldung verfassen
dash-field-topic = Thema
dash-field-kind = Art
dash-default-of-topic = Wie beim Thema
dash-field-priority = Priorität
dash-field-parent = Warnung, auf die sie folgt (für Aktualisierung oder Entwarnung)
dash-field-parent-help = Nur für eine Aktualisierung oder Entwarnung: die aktuelle Warnung, auf die sie folgt.
dash-parent-none = — keine (eine neue Meldung oder Warnung) —
dash-field-text = Text
dash-field-when = Wann
dash-when-now = Jetzt
dash-when-at = Einmal, zu einer Zeit
dash-when-cron = Wiederholt (Cron)
dash-field-at = Zeit (Ortszeit)
dash-field-cron = Cron-Ausdruck (Ortszeit)
dash-field-cron-help = Sechs Felder: Sekunde Minute Stunde Tag Monat Wochentag, z. B. 0 0 8 * * Mon
dash-button-preview = Vorschau zeigen
dash-button-send = Meldung senden
dash-preview-title = Vorschau
dash-recipients = Empfänger
dash-total = Gesamt
dash-templates = WhatsApp außerhalb des 24-Stunden-Fensters (kostenpflichtige Vorlage)
dash-cost = Geschätzte Kosten der Vorlagen
dash-next-firings = Die nächsten fünf Termine
dash-preview-telegram = Telegram
dash-preview-whatsapp = WhatsApp (freier Text)
dash-preview-template = WhatsApp-Vorlage (außerhalb des 24-Stunden-Fensters)
dash-template-chars = { $chars } von { $max } Zeichen.
dash-template-cut = Der Text wurde für die Vorlage gekürzt.
dash-status = Status
dash-st-draft = Entwurf
dash-st-awaiting_approval = wartet auf Freigabe
dash-st-scheduled = geplant
dash-st-released = freigegeben
dash-st-sending = wird gesendet
dash-st-done = fertig
dash-st-cancelled = abgebrochen
dash-st-missed = verpasst
dash-st-recurring = wiederkehrend
dash-st-retracted = widerrufen
dash-deliveries = Zustellungen je Kanal und Status
dash-channel = Kanal
dash-ds-pending = wartend
dash-ds-leased = im Versand
dash-ds-sent = gesendet
dash-ds-failed = fehlgeschlagen
dash-ds-gone = nicht mehr erreichbar
dash-ds-cancelled = abgebrochen
dash-chart-title = Nachrichten pro Sekunde
dash-chart-empty = Noch nichts gesendet.
dash-failures = Fehler nach Grund
dash-reason = Grund
dash-count = Anzahl
dash-no-failures = Keine Fehler.
dash-broadcast-title = Meldung #{ $id }
dash-approved-by = Freigegeben von { $who }.
dash-button-cancel = Meldung #{ $id } abbrechen
dash-all = alle
dash-button-filter = Filtern
dash-open = offen
dash-created = Erstellt
dash-created-by = Von
dash-none = Keine Meldungen.
dash-approvals-explain = Zur Freigabe: Entwürfe der Fachabteilungen warten hier auf die Pressestelle, Warnungen auf ein zweites Mitglied des Krisenstabs (Vier-Augen-Prinzip).
dash-button-approve = Meldung #{ $id } freigeben
dash-button-reject = Meldung #{ $id } ablehnen
dash-no-approvals = Nichts wartet auf Freigabe.
dash-signed-out = Sie sind nicht angemeldet. Senden Sie /login an den Bot in Ihrem Chat, um einen Anmeldelink zu erhalten.
dash-signed-out-done = Sie sind abgemeldet.
dash-link-refused = Dieser Anmeldelink ist unbekannt, abgelaufen oder schon benutzt. Senden Sie /login an den Bot in Ihrem Chat für einen neuen.
dash-sign-in-limited = Zu viele Anmeldeversuche von dieser Adresse. Bitte warten Sie { $seconds } Sekunden und versuchen Sie es dann noch einmal.
dash-streams-limited = In dieser Sitzung sind schon { $streams } Live-Seiten offen. Schließen Sie eine davon und laden Sie diese Seite neu.
dash-csrf-refused = Die Anfrage wurde abgelehnt: Das Sicherheitsmerkmal des Formulars fehlt oder ist falsch. Laden Sie die Seite neu und versuchen Sie es noch einmal.
dash-unavailable = Das Dashboard erreicht seine Datenbank gerade nicht. Bitte versuchen Sie es gleich noch einmal.
dash-invalid = Das geht nicht ({ $field }): { $reason }
dash-nav-schedules = Zeitpläne
dash-nav-plan = Redaktionsplan
dash-plan-week = Woche
dash-plan-month = Monat
dash-plan-earlier = Zurück
dash-plan-later = Weiter
dash-plan-today = Heute
dash-plan-views = Ansicht und Zeitraum
dash-plan-legend = Themen
dash-plan-empty = Nichts geplant.
dash-plan-move = Verschieben
dash-plan-new-time = Neue Zeit (TT.MM.JJJJ HH:MM)
dash-plan-moved = Nr. { $id } ist verschoben auf { $at }.
dash-plan-calendar = Kalender-Abo (iCalendar, z. B. für Outlook)
dash-plan-calendar-about = Ihr persönlicher, geheimer Link zu diesem Plan. Er wird nur einmal gezeigt; ein neuer Link macht den alten ungültig.
dash-plan-calendar-new = Neuen Link erstellen
dash-plan-calendar-link = Ihr neuer Link
dash-nav-subscribers = Abonnenten
dash-nav-audit = Protokoll
dash-schedule-new = Meldung planen (verfassen, dann „einmal“ oder „wiederholt“)
dash-schedule-removed = Wiederholung S{ $id } entfernt: Es wird nichts mehr danach gesendet.
dash-recurring = Wiederkehrend
dash-next = Nächster Termin
dash-action = Aktion
dash-button-remove-schedule = Zeitplan S{ $id } entfernen
dash-planned = Einmal geplant
dash-missed = Verpasst
dash-subscribers-caption = Aktive Abonnenten je Thema und Kanal
dash-audit-person = Person
dash-audit-action = Aktion
dash-audit-at = Zeit
dash-audit-detail = Einzelheiten
dash-subscribers-over-time = Aktive Abonnenten im Zeitverlauf (täglich)
dash-subscribers-chart = Aktive Abonnenten von { $topic } je Tag
dash-chart-no-days = Noch keine Tageszahlen.
dash-target = Ziel
dash-target-help = Bezirke ankreuzen oder einen Kreis angeben; ohne beides geht die Meldung an die ganze Stadt.
dash-target-districts = Bezirke
dash-target-circle = Oder ein Kreis
dash-field-lat = Breitengrad der Mitte
dash-field-lon = Längengrad der Mitte
dash-field-radius = Radius in Metern
dash-field-circle-help = Grad, z. B. 49,0195 und 12,0975; ein Radius über 0 und höchstens 50.000 m.
dash-target-both = Bitte Bezirke oder einen Kreis wählen, nicht beides.
dash-target-not-a-number = „{ $typed }“ ist keine Zahl.
dash-target-whole-city = Die ganze Stadt
dash-target-counts = Empfänger danach, wie das Ziel sie erreicht
dash-group = Gruppe
dash-group-by_district = Über ihren gewählten Bezirk
dash-group-by_place = Über ihren gemerkten Standort im Ziel
dash-group-without_area = Ohne Bezirk (sie erhalten alles)
dash-group-total = Gesamt
dash-map-alt = Karte des Zielgebiets. { $description }
dash-map-needs-target = Für eine Karte zuerst Bezirke ankreuzen oder einen Kreis eingeben.
dash-map-title = Karte der Stadtbezirke
dash-map-whole-city = Die ganze Stadt: alle Bezirke sind Ziel.
dash-map-districts = Ziel-Bezirke: { $areas }.
dash-map-circle = Ein Kreis von { $radius } m um { $lat }, { $lon }; die Bezirke, die er berührt: { $areas }.
dash-map-polygon = Ein als Polygon gezeichnetes Gebiet; die Bezirke, die es berührt: { $areas }.
dash-subscribers-districts = Aktive Abonnenten je Bezirk (wer ihn gewählt hat)
dash-district = Bezirk
dash-subscribers = Abonnenten
## Drills
drill-marker = ÜBUNG / EXERCISE
usage-drill = So geht es: /uebung TEXT — eine Übung des ganzen Warnwegs (Vorschau, Freigabe, Versand mit Vorrang), nur an die Mitarbeitenden.
drill-report = Übung #{ $id } beendet: { $recipients } Empfänger, davon { $sent } erreicht; erste Nachricht { $first_ms } ms nach der Freigabe, alle nach { $complete_s } s.

## Official warnings (NINA / CAP)
warnings-none-active = Keine aktive amtliche Warnung für das Gebiet.
demo-instances-setup = Demo: { $instances } Instanzen von „amtsbote run“ auf einer Postgres-Datenbank, { $subscribers } Abonnenten (je zur Hälfte Telegram und WhatsApp), jeder Kanal mit { $rate } Nachrichten/s für alle Instanzen zusammen.
demo-instances-event = { $at } s: { $event ->
        [kill] SIGKILL für
        [stop] SIGSTOP für
       *[cut] Datenbankverbindung getrennt für
    } { $instance } (hielt { $roles }).
demo-instances-summary =
    Nachricht zugestellt an { $delivered } von { $recipients }, die Warnung an { $alert_delivered } von { $alert_recipients }; verloren { $lost }, doppelt { $duplicates } (gesendet, aber noch nicht verbucht beim Beenden, Anhalten und Trennen: { $in_flight_at_kills }).
    Dichteste Sekunde bei den Plattformen, alle Instanzen zusammen: Telegram { $telegram_max_1s }, WhatsApp { $whatsapp_max_1s } (jeder Kanal mit { $rate }/s).
    Eine Warnung, freigegeben auf einer Instanz ohne die Kanäle: erste Nachricht { $alert_first_send_ms } ms nach der Freigabe. Instanzen, deren /metrics sagen, dass sie den Telegram-Kanal halten: { $telegram_lane_gauge_holders }.
demo-instances-failover = { $event ->
        [kill] SIGKILL
        [stop] SIGSTOP
       *[cut] Trennung
    } { $instance }, { $role }: eine andere Instanz hielt ihn nach { $holder_ms } ms, ihre nächste Nachricht kam nach { $send_ms } ms an.
demo-instances-cut = Von der Datenbank getrennt: ihre letzte Nachricht { $stopped_ms } ms nach der Trennung, eine andere Instanz hielt den Telegram-Kanal nach { $takeover_ms } ms; nach der Rückkehr der Verbindung sandte sie { $stale } Nachrichten, die eine andere Instanz schon gesandt hatte.
demo-instances-resume = Angehalten und fortgesetzt: danach sandte sie { $stale } Nachrichten, die eine andere Instanz schon gesandt hatte.
demo-warning-published = Amtliche Warnung ({ $kind }) { $id } erscheint bei der simulierten Warn-API.
demo-warnings-summary =
    Amtliche Warnung zugestellt: { $warning_delivered } von { $warning_expected }, Aktualisierung { $update_delivered }, Entwarnung { $allclear_delivered }; verloren { $lost }, doppelt { $duplicates }.
    Erste Nachricht { $warning_first_send_ms } ms nach dem ersten Erscheinen des Dokuments (Abfrage alle { $poll_seconds } s), alle in { $warning_complete_s } s (Grenze der Kanäle { $warning_complete_bound_s } s).
    Aktualisierung bei allen nach { $update_complete_s } s, Entwarnung nach { $allclear_complete_s } s. Spitzenspeicher: { $peak_rss_mb } MiB.
warning-kind-alert = Amtliche Warnung
warning-kind-update = Aktualisierung
warning-kind-cancel = Entwarnung
warning-source = Quelle: { $provider }, { $time }
warning-sent-auto = Eine amtliche Warnung wurde automatisch als Meldung #{ $id } versandt. /status { $id }
warning-auto-released = Die amtliche Warnung #{ $id } (extrem) wurde nicht rechtzeitig freigegeben und ist jetzt von selbst versandt worden. /status { $id }

# Areas
cmd-areas = Bezirke wählen oder Standort senden
welcome-with-areas = Willkommen beim Nachrichtendienst Ihrer Stadt! Sie erhalten jetzt Warnungen. Wählen Sie unten weitere Themen; /hilfe zeigt alles, was Sie tun können.
    Tipp: Mit /bezirke erhalten Sie Meldungen nur für Ihre Bezirke.
areas-header = Ihre Bezirke: { $chosen }. { $place ->
        [yes] Ein Standort für Warnungen in Ihrer Nähe ist gemerkt (auf etwa 100 m gerundet).
       *[no] {""}
    }
    Antippen zum Ein- und Ausschalten. Ohne Auswahl erhalten Sie alles aus der ganzen Stadt; Meldungen für die ganze Stadt erhalten Sie immer.
areas-whole-city = ganze Stadt
button-whole-city = 🏙 Ganze Stadt
button-share-location = 📍 Standort senden
button-forget-place = Standort vergessen
button-back = ◀ Zurück
button-more = Weitere ▶
location-ask = Tippen Sie auf „Standort senden“: Die Stadt erfährt daraus Ihren Bezirk.
button-send-location = 📍 Standort senden
location-in-district = Ihr Standort liegt im Bezirk { $area }. Sie erhalten jetzt auch Meldungen für diesen Bezirk.
location-keep-offer = Standort für Warnungen in meiner Nähe merken? Dann erreicht Sie z. B. eine Evakuierung im Umkreis von 300 m um Ihren Standort. Gemerkt wird er nur mit Ihrer Zustimmung und auf etwa 100 m gerundet; /bezirke zeigt und löscht ihn. Ohne Zustimmung bleibt nur der Bezirk gespeichert.
button-keep-place = Ja, merken
button-no-place = Nein, nur den Bezirk
location-kept = Ihr Standort ist gemerkt (auf etwa 100 m gerundet). /bezirke zeigt und löscht ihn, /loeschen löscht alles.
location-not-kept = In Ordnung: Nur der Bezirk ist gespeichert, nicht der Standort.
location-outside = Dieser Standort liegt außerhalb der Stadt. Es wurde nichts geändert.
location-invalid = Das ist kein gültiger Standort ({ $reason }). Es wurde nichts geändert.
location-no-areas = Diese Stadt hat keine Bezirke eingerichtet: Sie erhalten alle Meldungen.
place-forgotten = Ihr Standort ist gelöscht.
cli-preview-target-groups = davon: { $district } über ihren Bezirk, { $place } über ihren gemerkten Standort, { $none } ohne Bezirk

## Korrekturen und Widerrufe
retraction-line = WIDERRUF: Die Meldung vom { $time } ist gegenstandslos.
retraction-notice =
    { $line }

    { $text }
correction-notice = Korrektur: { $text }
kind-correction = Korrektur
kind-retraction = Widerruf
usage-correct = So geht es: /korrektur ID TEXT (der ganze neue Text). Still, nur bearbeitet und ohne Hinweis (nur Meldungen, nur wo bearbeitet werden kann): /korrektur ID --still TEXT
usage-retract = So geht es: /widerruf ID [TEXT] — nimmt eine gesendete Meldung zurück: Ungesendetes wird gestoppt, alle Empfänger erhalten einen Widerruf.
preview-retract =
    Widerruf der Meldung #{ $id } (Thema { $topic }). Sofort: Ungesendetes wird gestoppt, Folgemeldungen enden, und { $total } Empfänger (Telegram { $telegram }, WhatsApp { $whatsapp }) erhalten vor allem anderen:

    { $text }

    Auf Telegram beginnt die ursprüngliche Nachricht dann mit der Widerrufszeile.
    Widerrufen: /confirm { $code } · Abbrechen: /cancel { $code }
retracted-ok = Meldung #{ $id } ist widerrufen; der Widerruf (#{ $notice }) geht an alle, die sie erhalten haben.
not-sent-yet = Meldung #{ $id } ist { $status }: Nur Gesendetes kann widerrufen oder korrigiert werden; Ungesendetes stoppt /stop_broadcast { $id }.
not-correctable = Meldung #{ $id } lässt sich so nicht korrigieren: { $reason }.
button-retract = Widerrufen
cli-corrected = Meldung #{ $id } ist korrigiert (Fassung { $version }, Korrektur #{ $correction }); Ungesendetes geht mit dem neuen Text, { $recipients } Empfänger werden korrigiert.
cli-correction-awaits = Die Korrektur #{ $correction } der Meldung #{ $id } wartet auf die Freigabe durch ein zweites Mitglied des Notfallteams.
dash-correct-title = Korrigieren
dash-correct-text = Der ganze neue Text
dash-correct-notice = Empfänger mit einem Hinweis informieren (ohne: nur auf Telegram still bearbeiten; nur bei Meldungen)
dash-correct-button = Korrektur senden
dash-retract-title = Widerrufen
dash-retract-text = Eigener Text nach der Widerrufszeile (freiwillig)
dash-retract-button = Meldung #{ $id } sofort widerrufen
dash-versions = Fassungen
dash-version-line = Fassung { $version }, { $at }, { $by }{ $notice }
dash-version-silent = , still
dash-outlets = Weitere Kanäle
dash-outlet-post = Beitrag
dash-outlet-correct = Korrektur
dash-outlet-retract = Widerruf
dash-outlet-st-pending = wartet
dash-outlet-st-leased = wird gesendet
dash-outlet-st-sent = veröffentlicht
dash-outlet-st-failed = fehlgeschlagen
dash-outlet-st-skipped = entfällt
dash-outlet-st-manual = von Hand zu posten
dash-outlet-link = ansehen
dash-outlet-copy = Text zum Kopieren
dash-outlet-posted-button = Von Hand gepostet
dash-outlet-posted-line = von Hand gepostet von { $who } um { $at }
dash-notices = Korrekturen und Widerruf
demo-retract-text = Die Demo nimmt ihre Warnung zurück.
demo-outlets-summary =
    Dieselbe Warnung an { $subscribers } Empfänger dreimal: ohne Kanäle nach außen erste Nachricht { $off_first_send_ms } ms nach der Freigabe, Telegram { $off_telegram_per_s }/s, WhatsApp { $off_whatsapp_per_s }/s; mit Mastodon, Bluesky, Telegram-Kanal und Webhook { $on_first_send_ms } ms, Telegram { $on_telegram_per_s }/s, WhatsApp { $on_whatsapp_per_s }/s; wieder ohne { $off_again_first_send_ms } ms, Telegram { $off_again_telegram_per_s }/s, WhatsApp { $off_again_whatsapp_per_s }/s (mit ÷ ohne: erste Nachricht { $first_send_ratio }, Rate { $rate_ratio }).
    Posts: Mastodon { $mastodon_posts }, Bluesky { $bluesky_posts }, Telegram-Kanal { $telegram_channel_posts }, Webhook { $webhook_posts } (doppelt { $outlet_duplicates }), der letzte { $outlets_done_ms } ms nach der Freigabe; verloren { $lost }, doppelt { $duplicates }.
demo-retract-summary =
    Warnung an { $alerted } Empfänger (Telegram { $telegram_rate_achieved }/s von { $telegram_rate_configured }/s, WhatsApp { $whatsapp_rate_achieved }/s von { $whatsapp_rate_configured }/s), dann widerrufen; danach noch { $alerts_after_confirmation } Warnungen (unterwegs).
    Widerrufe: { $notices }, verloren { $lost }, doppelt { $duplicates }; der erste { $first_notice_ms } ms nach der Bestätigung, der letzte nach { $last_notice_s } s (N/R { $notices_over_rate_s } s); Bearbeitungen bis { $last_edit_s } s. Speicher höchstens { $peak_rss_mb } MiB.
## Vor Ort: eine Warnung um den eigenen Standort
onsite-radius-ask = Warnung „{ $text }“ nur im Umkreis um diesen Ort ({ $place })? Radius wählen – danach kommt eine neue Vorschau mit den Empfängern.
button-radius-other = Anderer Radius
onsite-radius-other = Schreiben Sie den Radius in Metern, z. B. /radius 750
usage-radius = So geht es: /radius METER (nach einem geteilten Standort zu einer offenen Warnung)
radius-no-place = Es gibt keinen Ort für einen Radius: erst /warnung TEXT, dann den Standort teilen.
onsite-draft-gone = Diese Vorschau gibt es nicht mehr (gesendet, verworfen oder abgelaufen). Mit /warnung TEXT beginnt eine neue.

## Öffentliches Archiv und Prüfung
cmd-latest = Die letzten Meldungen zu meinen Themen
archive-footer = Echt? { $link }
preview-outlets = Nach außen:
preview-outlet-text = { $outlet }: { $text }
preview-outlet-as-above = { $outlet }: wie oben
preview-outlet-not-posted = { $outlet }: { $why }
outlet-not-posted-drill = nicht gepostet – eine Übung bleibt beim Team
outlet-not-posted-topic = nicht gepostet – dieses Thema wird dort nicht übernommen
outlet-not-posted-alerts = nicht gepostet – Warnungen werden dort nicht übernommen
dash-outlet-preview = So erscheint es nach außen
preview-footer = Darunter steht: { $line }
preview-picture = 📎 Bild: { $width } × { $height } Pixel, { $size }, Metadaten entfernt. Alternativtext: { $alt }
preview-document = 📎 Dokument: { $name }, { $size }
attachment-no-command = Ein Bild oder Dokument hänge ich an eine Meldung, wenn der Befehl in der Bildunterschrift steht, z. B. „/meldung verkehr Die Umleitung ab Montag“ und eine Zeile „Bild: Plan der Umleitung über die Ringstraße“ (Alternativtext), oder wenn Sie es in Telegram als Antwort auf die Vorschau eines Entwurfs senden.
attachment-needs-alt = Ein Bild braucht einen Alternativtext für Menschen, die es nicht sehen können: Schreiben Sie in die Bildunterschrift eine Zeile „Bild: …“, die sagt, was darauf zu sehen ist. Es wurde nichts angelegt.
attachment-refused = Diese Datei kann nicht gesendet werden: { $reason }. Es wurde nichts angelegt.
attachment-unavailable = Dateien aus diesem Chat kann ich gerade nicht abholen. Bitte über das Dashboard anhängen.
attachment-citizen = Bilder und Dateien kann ich nicht lesen. Schreiben Sie mir /hilfe, um zu sehen, was ich kann.
check-pointer = Eine Nachricht weitergeleitet bekommen? Leiten Sie sie mir weiter, dann sage ich, ob sie wirklich von der Stadt ist.
check-genuine = ✅ Echt: Diese Meldung hat die Stadt am { $time } gesendet.
check-corrected = ⚠️ Von uns, aber korrigiert: Die Meldung vom { $time } lautet jetzt so:
check-retracted = ❌ Von uns, aber widerrufen: Die Meldung vom { $time } gilt nicht mehr.
check-not-ours-close = ❌ Nicht von uns: Keine Meldung der Stadt lautet so. Die echte Meldung vom { $time } lautet:
check-not-ours = ❌ Nicht von uns: Keine Meldung der Stadt passt dazu.
check-official = Alle offiziellen Meldungen: { $link }
latest-head = Die letzten Meldungen zu Ihren Themen:
latest-none = Zu Ihren Themen gibt es noch keine Meldungen.
latest-off = Das Archiv ist hier nicht eingerichtet.
archive-title = Meldungen der Stadt
archive-skip = Zum Inhalt springen
archive-nav = Archiv
archive-nav-archive = Alle Meldungen
archive-nav-check = Meldung prüfen
archive-other-language = English
archive-feed-atom = Meldungen als Atom-Feed
archive-feed-rss = Meldungen als RSS-Feed
archive-feed-json = Meldungen als JSON-Feed
archive-footer-note = Offizielle Meldungen der Stadt, wie sie über Telegram und WhatsApp versandt wurden. Diese Seiten speichern nichts über Sie.
archive-list-title = Alle Meldungen
archive-filter-topic = Thema
archive-filter-all = Alle Themen
archive-filter-area = Bezirk
archive-filter-city = Ganze Stadt
archive-filter-show = Anzeigen
archive-empty = Hier gibt es noch keine Meldungen.
archive-older = Ältere Meldungen
archive-for-areas = für { $areas }
archive-retracted = Widerrufen
archive-retracted-long = Diese Meldung wurde widerrufen: Sie gilt nicht mehr.
archive-corrected = Korrigiert am { $time }
archive-former = Frühere Fassungen
archive-former-version = Fassung { $version }
archive-code = Prüfcode: { $code }
archive-document = Das Dokument (PDF, { $size })
archive-follow-ups = Folgemeldungen
archive-parent = Zur ursprünglichen Warnung
archive-parent-changed = Zur Meldung, die sie ändert
archive-back = Zurück zu allen Meldungen
archive-kind-announcement = Meldung
archive-kind-alert = Warnung
archive-kind-update = Aktualisierung
archive-kind-allclear = Entwarnung
archive-kind-correction = Korrektur
archive-kind-retraction = Widerruf
archive-not-found = Diese Meldung gibt es nicht
archive-not-found-hint = Der Code ist falsch oder gehört zu keiner Meldung der Stadt. Eine Nachricht mit diesem Code ist nicht von uns.
archive-check-title = Ist diese Meldung echt?
archive-check-intro = Fügen Sie den Text einer Nachricht oder ihren Prüfcode ein. Wir vergleichen ihn mit allen Meldungen der Stadt der letzten 90 Tage und speichern nichts davon.
archive-check-label = Text oder Prüfcode
archive-check-button = Prüfen
archive-check-open = Die Meldung ansehen ({ $code })
archive-check-too-long = Der Text ist zu lang: höchstens 8000 Zeichen.
archive-check-too-many = Zu viele Prüfungen in kurzer Zeit. Bitte in einer Minute noch einmal.
archive-check-unavailable = Die Prüfung ist gerade nicht möglich. Bitte später noch einmal.
dash-media = Bild oder Dokument
dash-field-alt = Alternativtext: was das Bild zeigt
dash-field-alt-help = Pflicht bei einem Bild. Erscheint im Archiv und hier; Messenger können ihn nicht übertragen.
dash-field-file = Bild (JPEG, PNG, WebP) oder PDF anhängen
dash-field-file-help = Erst anhängen, dann den Text schreiben. Ein Bild wird vor dem Speichern von seinen Metadaten (EXIF, GPS-Position) befreit; höchstens 5 MB für ein Bild und 50 MB für ein PDF.
dash-button-map = Karte des Zielgebiets als Bild anhängen
dash-button-upload = Anhängen
dash-preview-reply-note = Der Text ist länger als eine Bildunterschrift (1.024 Zeichen): Das Bild geht zuerst, der Text folgt als Antwort darauf.

## The desk: departments' drafts for the press office (issue 25)
help-contributor =
    Fachabteilung:
    /entwurf THEMA TEXT – ein Entwurf für die Pressestelle; sie prüft, ändert, gibt frei oder lehnt ab
    /login – ein Link zum Dashboard
usage-draft = So geht es: /entwurf THEMA TEXT
usage-edit = So geht es: /bearbeiten ID NEUER TEXT (ID des Entwurfs)
usage-reject = So geht es: /ablehnen ID GRUND (ID des Entwurfs)
drafts-only = Entschuldigung, als Fachabteilung schreiben Sie Entwürfe für die Pressestelle (/entwurf THEMA TEXT); senden, planen, warnen, stoppen und freigeben darf nur die Pressestelle. Es wurde nichts angelegt.
topic-not-allowed = Entschuldigung, für dieses Thema darf Ihre Abteilung keine Entwürfe schreiben. Es wurde nichts angelegt.
draft-submitted = Ihr Entwurf #{ $id } (Thema { $topic }) liegt der Pressestelle zur Freigabe vor. Sie erfahren hier, was daraus wird.
draft-from = Entwurf #{ $id } von { $author } ({ $department }). Ändern: /bearbeiten { $id } NEUER TEXT · Ablehnen mit Grund: /ablehnen { $id } GRUND
draft-edit-ok = Entwurf #{ $id } ist geändert; die Fachabteilung ist informiert. Geben Sie ihn mit dem Knopf in der Anfrage frei.
draft-reject-ok = Entwurf #{ $id } ist abgelehnt; die Fachabteilung kennt den Grund.
draft-edited =
    Die Pressestelle ({ $by }) hat Ihren Entwurf #{ $id } geändert.
    Vorher: { $before }
    Jetzt: { $after }
draft-rejected = Die Pressestelle ({ $by }) hat Ihren Entwurf #{ $id } abgelehnt: { $reason }
draft-approved = Die Pressestelle ({ $by }) hat Ihren Entwurf #{ $id } freigegeben; er wird jetzt gesendet.
draft-approved-scheduled = Die Pressestelle ({ $by }) hat Ihren Entwurf #{ $id } freigegeben; er geht am { $at } hinaus.
draft-expired = Ihr Entwurf #{ $id } wurde nach { $days } Tagen ohne Freigabe verworfen. Schreiben Sie ihn bei Bedarf neu.
dash-button-propose = Zur Freigabe an die Pressestelle
dash-draft-by = Entwurf von { $author } ({ $department })
dash-draft-text = Text (Änderungen sieht die Fachabteilung)
dash-draft-at = Senden am (leer: sofort)
dash-draft-at-help = Datum und Uhrzeit in Stadtzeit, z. B. 24.12.2026 18:00
dash-draft-reason = Grund der Ablehnung (die Fachabteilung erfährt ihn)
usage-template = So geht es: /vorlage NAME feld=wert feld=wert … Vorlagen: { $names }
template-refused = Die Vorlage lässt sich so nicht füllen: { $reason }
dash-nav-templates = Textbausteine
dash-templates-explain = Texte mit Feldern in geschweiften Klammern, z. B. „Vollsperrung {"{"}strasse{"}"} von {"{"}von{"}"} bis {"{"}bis{"}"}.“ Jede Änderung wird als neue Version gespeichert.
dash-template-name = Name
dash-template-version = Version
dash-template-saved-by = Gespeichert von
dash-template-use = { $name } verwenden
dash-template-new = Neuer Textbaustein oder neue Version
dash-template-text-help = Felder in geschweiften Klammern, z. B. {"{"}strasse{"}"}; ein Baustein fürs Thema alerts ist eine Warnung (nur Krisenstab).
dash-template-alert-help = Eine Warnung (Thema alerts) ohne Text bekommt die Felder der Leitstelle: Ereignis, Ort, Gefahr, Handlungsempfehlung und Quelle.
template-field-event = Ereignis (was geschieht)
template-field-areaDesc = Ort (wo)
template-field-description = Gefahr
template-field-instruction = Handlungsempfehlung (was zu tun ist)
template-field-senderName = Quelle (herausgegeben von)
dash-template-save = Textbaustein speichern
dash-template-fill = Textbaustein „{ $name }“ ausfüllen
dash-template-insert = In die Meldung einsetzen
dash-template-choose = Textbaustein wählen
dash-when-repeat = Wiederholen
dash-field-repeat = Wie oft
dash-repeat-daily = jeden Tag
dash-repeat-weekdays = jeden Werktag (Mo–Fr)
dash-repeat-weekly = jede Woche am …
dash-repeat-first = jeden ersten … im Monat
dash-field-weekday = Wochentag
dash-weekday-Mon = Montag
dash-weekday-Tue = Dienstag
dash-weekday-Wed = Mittwoch
dash-weekday-Thu = Donnerstag
dash-weekday-Fri = Freitag
dash-weekday-Sat = Samstag
dash-weekday-Sun = Sonntag
dash-field-time = um (Uhrzeit, z. B. 08:00)
dash-advanced = Erweitert
dash-built-cron = Zeitplan als Cron-Ausdruck:

## The team page (Mitarbeitende)
dash-nav-team = Mitarbeitende
dash-role-press = Pressestelle
dash-role-emergency = Krisenstab
dash-role-admin = Administration
dash-role-contributor = Fachabteilung
dash-team-explain = Wer im Namen der Stadt schreibt: jede Person mit ihrer Rolle, ihrer Abteilung und ihren Themen (Fachabteilungen) und den Kanälen, über die sie schreibt.
dash-team-person = Name
dash-team-person-help = Vor- oder Nachname, wie das Team die Person kennt (Buchstaben, Ziffern, Leerzeichen, Punkt, Bindestrich). Eine zweite Adresse derselben Person bekommt denselben Namen.
dash-team-role = Rolle
dash-team-department = Abteilung
dash-team-department-help = Nur für eine Fachabteilung, z. B. Tiefbauamt.
dash-team-topics = Themen
dash-team-topics-help = Nur für eine Fachabteilung: die Themen, für die sie Entwürfe schreibt, durch Komma getrennt. Vorhanden: { $topics }
dash-team-channels = Kanäle
dash-team-channel = Kanal
dash-team-address = Adresse
dash-team-address-help = Telegram: die Nutzer-ID (eine Zahl). WhatsApp: die Nummer in Ziffern ohne +, z. B. 4917012345678.
dash-team-add = Person hinzufügen
dash-team-add-button = Hinzufügen
dash-team-remove = { $person } entfernen
dash-team-removed = { $person } gehört nicht mehr zum Team.
dash-team-refused = Mitarbeitende hinzufügen oder entfernen darf nur die Administration. Es wurde nichts geändert.
dash-team-bad-channel = Bitte wählen Sie Telegram oder WhatsApp als Kanal. Es wurde nichts geändert.
dash-team-bad-role = Bitte wählen Sie eine Rolle. Es wurde nichts geändert.
dash-team-bad-name = Der Name darf nur Buchstaben, Ziffern, Leerzeichen, Punkt, Bindestrich und Unterstrich enthalten (höchstens 64 Zeichen). Es wurde nichts geändert.
dash-team-bad-address = „{ $typed }“ ist keine { $channel }-Adresse: Telegram braucht die Nutzer-ID (eine Zahl), WhatsApp die Nummer in Ziffern ohne +. Es wurde nichts geändert.
dash-team-needs-person = Eine Fachabteilung braucht einen Namen: ihre Entwürfe sind die einer Person. Es wurde nichts geändert.
dash-team-needs-desk = Eine Fachabteilung braucht eine Abteilung und mindestens ein Thema. Es wurde nichts geändert.
dash-team-desk-only = Abteilung und Themen gibt es nur für eine Fachabteilung; lassen Sie die Felder für andere Rollen leer. Es wurde nichts geändert.
dash-team-unknown-topic = Das Thema „{ $topic }“ gibt es nicht; vorhanden sind: { $valid }. Es wurde nichts geändert.
dash-team-address-taken = Die Adresse { $address } gehört schon { $owner }; entfernen Sie sie dort zuerst. Es wurde nichts geändert.
dash-team-other-role = { $person } hat schon die Rolle { $role }; eine Person hat eine Rolle. Um sie zu ändern, entfernen Sie { $person } und fügen die Adressen neu hinzu. Es wurde nichts geändert.
dash-team-conflict = Das Team wurde gerade anderswo geändert ({ $reason }). Es wurde nichts geändert; bitte laden Sie die Seite neu.
dash-team-not-staff = { $person } gehört nicht zum Team.
