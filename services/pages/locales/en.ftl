# The pages' words in English (Project Fluent). Every message here is in cy.ftl too (a test).

skip-to-content = Skip to the content
nav-label = Main
nav-assemblies = Assemblies
nav-dashboard = Council dashboard
nav-programme = Programme
nav-receipt = What became of my submission?
nav-other-language = Cymraeg
badge-not-checked = Not checked
badge-summary-unchecked = With scripts on, your browser rebuilds this page from the signed record and compares it with what the server sent. Without them, nothing on it is checked.
record-start = the start
count-events =
    { $count ->
        [one] 1 event
       *[other] { $count } events
    }
footer-record = The record as of { $date }: { $events } in the log. Every page is complete without scripts; with them, your browser checks it.
footer-keys = The keys this record is signed with
footer-log-key = Log key:
footer-trust-root = Trust root (the council's key):
footer-cosigned = Checkpoint cosigned by the witnesses { $witnesses }
footer-nothing-from-record = Served by Kleroterion. Nothing on this page comes from the record.
feed-title = Responses and progress
document-held-only = The text is not shown here (it is long, or not text): download it to read it.
document-not-held = This server holds no copy of this document: it has not been uploaded, or it was removed.
document-download = Download the document
event-n = event { $index }
event-link-label = the signed event { $index }
citation-event-label = the signed citation, event { $index }
error-all-assemblies = All assemblies
title-receipt = What became of my submission
receipt-heading = What became of my submission?
receipt-check-heading = Check a receipt
receipt-paste-label = Paste the receipt you were given (it begins with <code>klero-proof-bundle/v1</code>):
receipt-follow-button = Follow my submission
checked-heading = What your browser checks, and what it does not
checked-slice = With scripts on, your browser fetches the part of the signed log that the page shows (a slice) and runs Kleroterion's own verifier on it, compiled to WebAssembly. It checks the log's signed checkpoint with the log key it trusts, and the witnesses' cosignatures when the log has witnesses.
checked-events = It checks that every event is in the log where the slice says, that its author signed it, that the author's key held the role the event needs, and that every rule of the record holds.
checked-nothing-left-out = It checks that nothing was left out: the checkpoint commits to the last event of every stream, so a missing answer, recommendation or submission is caught.
checked-rebuilt = It rebuilds the page from what it checked (the counts, the chances of selection, whether an answer is overdue, the view digests) and compares it with what the server sent. Any difference fails the check, and the page then shows what your browser derived.
checked-newest = It remembers the newest checkpoint it saw and refuses an older record, or a history that does not extend it.
checked-trust = It trusts the log key and trust root it first saw for this server. Compare them (at the foot of each page) with the ones your council publishes. Whoever serves this page also serves the checker: to check without trusting this server, use the standalone verifier, which any newspaper or civic group can host.
title-submitted = Your submission is in the record
submitted-heading = Thank you: your submission is in the record
submitted-where = It is event <strong>{ $index }</strong> of the public record, signed by this server's key for its web form ("received from the web form"), in answer to the call <strong>{ $call }</strong>.
submitted-assembly = The assembly:
submitted-sealed = Your text and any contact you gave are sealed: the contact is never shown, and either can be erased on request.
submitted-next = A moderator will publish it, or withhold it for a reason the call's policy gives; the record shows which, and the decision can be appealed.
submitted-follow = Follow it to the council's answers
submitted-keep-link = (keep this link).
submitted-download = Download your receipt
submitted-download-why = : the proof that the signed record holds it, which anyone can check, and which you can paste on the page "What became of my submission?".
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
yes = yes
no = no
none = none
yes-capital = Yes
no-capital = No
error-not-found = Not found
error-bad-request = That request cannot be answered
error-try-again = Please try again shortly
error-went-wrong = Something went wrong
error-no-event = The log holds no event { $index }.
error-event-does-not-decode = Event { $index } does not decode under the catalogue.
error-no-assembly = The record holds no assembly { $id }.
error-no-such-submissions-page = Assembly { $id } has { $total } public submissions: its pages of submissions are 1 to { $pages }.
error-not-an-input = Event { $index } is not a public submission or evidence: only those can be followed to the council's answers.
decision-accepted = Accepted
decision-accepted-in-part = Accepted in part
decision-not-accepted = Not accepted
decision-referred = Referred for further study
recommendation-status-adopted = adopted by the panel
recommendation-status-withdrawn = withdrawn by the panel
recommendation-status-drafted = a draft of the panel
implementation-not-started = Not started
implementation-in-progress = In progress
implementation-completed = Completed
implementation-stalled = Stalled
erased-on = Erased on { $date } ({ $reason })
sealed-unopened = Sealed text this server did not open
withheld-by-moderator = Withheld by a moderator ({ $reason }): the text stays sealed in the record
awaiting-moderation = Awaiting moderation: the text shows once a moderator publishes it
erasure-server-silent = This server says nothing of whether its old copies (backups, database logs, replicas) still hold erased text.
erasure-complete-at-once =
    { $count ->
        [one] This server says this erasure is complete in every copy it keeps: it keeps one copy of each key, and overwrote it when the erasure was recorded.
       *[other] This server says these { $count } erasures are complete in every copy it keeps: it keeps one copy of each key, and overwrote it when the erasure was recorded.
    }
erasure-no-rotation = This server says its old copies (database logs, replicas, backups) may still hold erased text: it runs without a key-encryption key to rotate.
erasure-complete-since =
    { $count ->
        [one] This server says this erasure is complete in every copy it keeps (its tables, logs, replicas and backups) since it rotated its key-encryption key on { $date }.
       *[other] This server says these { $count } erasures are complete in every copy it keeps (its tables, logs, replicas and backups) since it rotated its key-encryption key on { $date }.
    }
erasure-partly-complete = This server says { $complete } of { $count } erasures are complete in every copy it keeps (its tables, logs, replicas and backups) since it rotated its key-encryption key on { $date }; the rest will be at its next rotation.
erasure-server-word = Your browser cannot check this: it is the server's word.
count-signed-events =
    { $count ->
        [one] 1 signed event
       *[other] { $count } signed events
    }
count-assembly-events =
    { $count ->
        [one] 1 assembly event
       *[other] { $count } assembly events
    }
count-selection-events =
    { $count ->
        [one] 1 selection event
       *[other] { $count } selection events
    }
count-deliberation-events =
    { $count ->
        [one] 1 deliberation event
       *[other] { $count } deliberation events
    }
count-recommendation-events =
    { $count ->
        [one] 1 recommendation event
       *[other] { $count } recommendation events
    }
count-response-events =
    { $count ->
        [one] 1 event of the council's answers
       *[other] { $count } events of the council's answers
    }
count-registry-events =
    { $count ->
        [one] 1 registry event
       *[other] { $count } registry events
    }
role-convenor = convenor
role-selection-operator = selection operator
role-facilitator = facilitator
role-panel-secretary = panel secretary
role-council-decision-maker = council decision-maker
role-auditor = auditor
role-data-protection-officer = data protection officer
role-moderator = moderator
role-intake = intake
withdrawal-personal = personal reasons
withdrawal-unreachable = unreachable
withdrawal-other = other
scope-every-assembly = every assembly
scope-assembly = assembly { $id }
authority-trust-root = The trust root (the council's own key), which alone grants and revokes roles.
authority-grant = { $role } ({ $holder }), for { $scope }, granted by the trust root and not revoked before this event
authority-resident = A resident's own key, which needs no grant: inside an open call and within its limits, any key may submit, and a submission's author may appeal its moderation.
authority-not-established = Not established
path-browser-long = signed in the resident's own browser
path-web-form-long = received from the web form, signed by the intake key
moderation-published = published
moderation-withheld = withheld
contact-sealed = sealed, never shown
contact-none = none given
reason-none-published = none (published)
area-letters-line = { $area }: { $letters } letters to { $addresses } addresses
quota-line = { $feature }: { $value }, { $min } to { $max } seats
title-event = Event { $index }
title-index = Assemblies
title-dashboard = Council dashboard
title-programme = The programme: councils compared
title-council = { $name }
title-submissions = Public submissions: { $question }
title-data = Open data: { $question }
kind-evidence = evidence
kind-public-submission = public submission
kind-public-submission-n = public submission { $number }
describe-evidence = Evidence
describe-evidence-titled = Evidence: { $title }
describe-public-submission = Public submission
describe-public-submission-n = Public submission { $number }
receipt-checks-out = Your receipt checks out: event { $index } was signed by its author and is in the log of { $receipt_size } events your receipt's checkpoint covers, and the log now ({ $size } events) extends that checkpoint.
standing-answering-overdue = The council is answering; some answers are overdue
standing-answering = The council is answering
standing-all-done = Every recommendation answered, and everything accepted carried out
standing-all-answered = Every recommendation answered; the council reports on what it accepted
standing-convened = Convened
standing-selecting = Selecting the panel
standing-panel-drawn = Panel drawn, deliberation to start
standing-deliberating = Deliberating
standing-writing = Writing recommendations
standing-waiting-answers = Recommendations made; waiting for the council's answers
milestone-convened = Assembly convened
milestone-selection-planned = Selection planned and the seed committed
milestone-pool-registered = Pool of volunteers registered
milestone-lottery-published = Lottery published
milestone-panel-drawn = Panel drawn by lot
milestone-first-session = First session held
milestone-first-draft = First recommendation drafted
milestone-final-report = Final report published
milestone-first-response = The council's first response
due-to-be-done-by = To be done by
due-study-by = The study to report by
fate-cited-by = Cited by
fate-considered-in = Considered in the council's answer to
fate-none = No recommendation and no answer of the council cites it.
stands-answered = { $status }; the council's answer: { $decision }
stands-not-answered = { $status }; not answered yet
came-browser = Signed in the resident's own browser, to the call { $call }.
came-web-form = Received from the web form, to the call { $call }.
chart-title = Seats on the panel for each quota, against the range the quota allows
chart-within = within
chart-outside = OUTSIDE
chart-allowed = allowed: { $min } to { $max }
chart-seated-title = seated: { $seated }
chart-seated-line = { $seated } seated ({ $min }–{ $max }, { $verdict })
chart-seats = { $count } seats
assembly-from = From
assembly-to = to
assembly-terms = A panel of { $panel } residents; a recommendation is adopted with { $threshold }% of the votes; the council answers within { $days } days.
assembly-where-it-stands = Where it stands:
toc-label = On this page
toc-timeline = Timeline
toc-selection = Selection
toc-deliberation = Deliberation
toc-recommendations = Recommendations and answers
toc-data = Open data
timeline-note = Each step shows the day it was recorded in the signed log; a session also shows the day it was held.
timeline-held-on = Held on
timeline-recorded = Recorded { $date }
timeline-recorded-lower = recorded { $date }
selection-heading = Selection by lot
selection-not-planned = The selection has not been planned yet.
selection-pool =
    { $withdrawals ->
        [0] { $pool } volunteers were in the pool. { $seated } residents sit on the panel now.
        [one] { $pool } volunteers were in the pool. { $seated } residents sit on the panel now, after 1 withdrawal.
       *[other] { $pool } volunteers were in the pool. { $seated } residents sit on the panel now, after { $withdrawals } withdrawals.
    }
chart-scroll-hint = The chart scrolls sideways.
chart-caption = Seats for each quota (bar) against the range the quota allows (band).
quotas-caption = Quotas against the panel
quotas-quota = Quota
quotas-allowed = Allowed
quotas-seated = Seated
quotas-within = Within the quota?
quotas-range = { $min } to { $max }
quotas-planned = Planned
quotas-relaxed = Relaxed (applies)
quotas-unchanged = unchanged
quotas-relaxed-because = No panel could meet the planned quotas, so the selection officer relaxed them, giving this reason: { $reason }
field-relaxed-quotas = Relaxed quotas
selection-chances = The lottery ({ $panels } possible panels) gave every volunteer a chance of selection between <strong>{ $lowest }</strong> (the lowest) and <strong>{ $highest }</strong> (the highest).
selection-seed-committed = Before the pool was registered, the selection operator committed to a random seed: SHA-256
selection-seed-source = Source: { $source }.
selection-seed-revealed = After the lottery was published, the seed was revealed:
selection-seed-matches = It hashes to the commitment ✓, and the panel is the one it draws (checked by the record's rules).
selection-seed-mismatch = It does not hash to the commitment.
replacements-heading = Replacements
replacement-line = { $replacement } replaced { $withdrawn }, by the same draw
sessions-none = No session has been held yet.
session-heading = Session { $number }: { $agenda }
session-present = { $count } members present.
evidence-presented-by = Presented by a { $role } ({ $media }).
evidence-read = Read the evidence
evidence-not-held = This server holds no copy of the evidence
call-label = Call { $id }
call-heading = Call for submissions: { $prompt }
call-on-draft = On the draft recommendation
call-open-dates = Open from <strong>{ $opens }</strong> to <strong>{ $closes }</strong>
call-closed-early = ; closed early: { $reason }
call-open-now = : open now
call-up-to = Up to { $max } characters
call-one-each = , one submission each
call-names-asked = ; asks for a name and postcode, which are sealed and never shown
call-kept-days = Personal data kept { $days } days.
call-work = Instead of a puzzle for people, a browser that sends one does a moment of work first (a proof of work of { $bits } bits), so that sending many costs something.
call-received = { $received } received ({ $browser } signed in residents' own browsers, { $form } from the web form):
call-outcomes = { $published } published, { $withheld } withheld, { $pending } awaiting moderation
call-appeals = ; { $count } appealed
withheld-caption = Withheld, by the policy's reasons
withheld-reason = Reason
withheld-count = Withheld
call-consent-summary = What residents agree to
call-policy-summary = The moderation policy
form-heading = Send a submission
form-text = Your submission
form-text-hint = Up to { $max } characters. Write about the question, not about other people.
form-name = Your name (optional)
form-postcode = Your postcode (optional)
form-email = Your email, to be told what became of it (optional)
form-trap = Leave this empty
form-consent = I agree to what residents agree to, above
form-send = Send my submission
submissions-heading = Public submissions
submissions-from-public =
    { $count ->
        [one] 1 submission from the public
       *[other] { $count } submissions from the public
    }
submissions-uncited = { $count } of them no recommendation or answer cites.
submissions-read-all = Read every submission, numbered, with what became of it
submissions-cited-intro = The submissions that recommendations or answers cite:
submission-cited-by = Cited by { $ids }.
submission-considered-in = Considered in the council's answer to { $ids }.
submissions-personal-note = Public submissions may hold personal data. Each can be erased on request without breaking the record's proofs.
recommendations-heading = Recommendations and the council's answers
recommendations-none = No recommendation has been drafted yet.
pill-adopted = Adopted
pill-withdrawn = Withdrawn
pill-draft = Draft
adoption-recorded-open = (recorded 
adoption-recorded-close = ):
adoption-votes = { $for } for, { $against } against, { $abstaining } abstaining
text-adopted = The text adopted
text-current = The current text
amended-times =
    { $count ->
        [one] Amended once:
       *[other] Amended { $count } times:
    }
informed-it = What informed it
answer-label = The council's answer to { $id }
answer-heading = The council's answer
answered-late = Answered late
answer-responsible = Responsible: { $body }.
answer-recorded = Answer recorded { $date }
answer-attested = Attested by { $quorum } of { $witnesses } witnesses as recorded by { $time }.
answer-attested-after-deadline = The witnesses saw it only after the deadline.
answer-amended-times =
    { $count ->
        [one] , amended once
       *[other] , amended { $count } times
    }
answer-amendment-reason = Reason for the amendment: { $reason }
answer-considered-nothing = The council recorded no evidence or submission it considered for this answer.
answer-considered = What the council considered
answer-letter = The council's letter
answer-overdue = Overdue: the council's answer was due by { $date } and has not been given.
answer-not-yet = No answer yet. It is due by { $date }.
implementation-label = Implementation of { $id }
implementation-heading = Implementation
implementation-now = Now:
implementation-done = { $percent }% done
implementation-evidence = its evidence
final-report = The final report
data-intro = Every view of this assembly as canonical JSON, with its SHA-256 digest: anyone who rebuilds it from the log gets the same bytes
data-all-downloads = all downloads
data-csv-short = recommendations as CSV
data-feed-short = Atom feed of answers and progress
views-caption = Views of the log of { $events } events
data-view = View
data-digest = SHA-256 digest
data-heading = Open data
data-for = For
data-lede = Each view is the canonical JSON of docs/FORMAT.md §7; its SHA-256 is the digest below. Anyone who rebuilds it from the log gets the same bytes.
data-caption = Views of the log of { $events } events, whose Merkle root is
data-csv = Recommendations and responses (CSV)
data-csv-what = : the columns of Decidim's accountability results (id, title, description, start_date, end_date, status, progress) and the decision, rationale, deadline and lateness.
data-feed = Atom feed
data-feed-what = of the council's answers and implementation updates: add it to a feed reader to be told when the council answers.
index-heading = Citizens' assemblies
index-lede = Residents drawn by lot deliberate, recommend, and the council answers each recommendation. Every step below is signed and in a public log that anyone can check.
index-none = No assembly has been convened yet.
index-dates = from { $from } to { $to }
index-on-record = { $events } on the record ({ $streams }).
more-assemblies = More assemblies
dashboard-heading = Council accountability dashboard
dashboard-lede = For every assembly: what was recommended, what the council accepted, what it has done, and which answers are overdue.
dashboard-scroll-hint = The table scrolls sideways: it has more columns than this screen shows.
dashboard-region-label = The dashboard's table; it scrolls sideways on a narrow screen
dashboard-caption = Recommendations and the council's answers, by assembly
dashboard-assembly = Assembly
dashboard-recommended = Recommended
dashboard-adopted = Adopted
dashboard-answered = Answered
dashboard-accepted = Accepted
dashboard-implemented = Implemented
dashboard-overdue = Overdue answers
dashboard-n-overdue = { $count } overdue
dashboard-these = These assemblies
dashboard-note = Accepted counts answers "Accepted" or "Accepted in part". Implemented counts recommendations whose latest update says "Completed". Each count is computed from the record of each assembly, which the page links to.
programme-heading = The programme: councils compared
programme-lede = For every council on this service: its assemblies, how representative their panels are, what residents sent in, what was recommended, how the council answered, and how long it took.
programme-region-label = The programme's table; it scrolls sideways on a narrow screen
programme-caption = Councils compared, each from its own record
programme-council = Council
programme-assemblies = Assemblies
programme-quotas = Panel quotas met
programme-quotas-met = { $met } of { $count }
programme-submissions = Submissions published
programme-published-of = { $published } of { $received } received
programme-recommendations = Recommendations made
programme-accepted = Accepted
programme-accepted-in-part = Accepted in part
programme-not-accepted = Not accepted
programme-referred = Referred for further study
programme-awaiting = Awaiting an answer
programme-implemented = Implemented
programme-median-days = Median days to answer
programme-worst-days = Longest days to answer
programme-attested-late = Answers the witnesses saw only after their deadline
programme-attested-late-of = { $late } of { $count } attested
programme-days =
    { $count ->
        [one] 1 day
       *[other] { $count } days
    }
programme-chart-title = Adopted recommendations by the council's answer
programme-chart-line = { $answered } of { $adopted } answered
programme-more = More councils
programme-csv = Download these figures for every council (CSV)
programme-note = Days to answer run from the adoption's recording to the council's first answer, rounded up; the median is the middle answer's (the lower of two). Each council's figures are computed from that council's whole record, which its page links to.
council-lede =
    { $count ->
        [one] 1 assembly on this service, from the council's own record.
       *[other] { $count } assemblies on this service, from the council's own record.
    }
council-root-key = The council's own trust root
council-caption = The council's assemblies
council-back = All councils
council-slice = The council's whole record, for auditors (a slice)
about-assembly-question = the assembly's question
event-heading = Event { $index }: { $type }
event-lede = One signed entry of the log, exactly as it is stored.
event-belongs-to = It belongs to
event-assembly-n = assembly { $id }
event-what-it-says = What it says
event-sealed-personal = (sealed personal text)
event-who-signed = Who signed it
event-author-key = Author's key
event-authority = Authority
event-the-grant = the grant, event { $index }
event-written = Written by the author
event-recorded = Recorded by the log
event-where = Where it is
event-type = Event type
event-version = version { $version }
event-stream = Stream
event-revision = revision { $revision } of { $of }
event-id = Event id
event-hash = Event hash
event-previous = The stream's previous event
event-first = The first event of its stream
event-next = Its next event
event-latest = The stream's latest event
event-signed-bytes = The signed bytes
event-envelope = The envelope (docs/FORMAT.md §2.3), in base64: { $bytes } bytes.
event-slice-link = The event with its proofs (a slice, docs/FORMAT.md §15)
event-checkpoint-link = the signed checkpoint
submissions-count =
    { $count ->
        [one] 1 submission from the public, numbered in the order received
       *[other] { $count } submissions from the public, numbered in the order received
    }
submissions-this-page = ; this page shows { $first } to { $last }
submissions-what = Each says what became of it: the recommendations that cite it, and the council's answers that considered it.
submission-n = Submission { $number }
received-on = Received on { $date }.
follow-submission-n = Follow submission { $number } to the council's answers
pager-label = Pages of submissions
pager-previous = Previous
pager-next = Next
pager-page-of = Page { $page } of { $pages }
trace-your = Your { $kind }
trace-in-assembly = In the assembly
appeal-offer = If you sent this submission from this browser, you may ask for another moderator to decide again, once.
appeal-button = Appeal the decision
trace-not-cited-yet = No recommendation and no answer of the council cites it yet. This page will show them when they do.
trace-cited-by = Recommendations that cite it
trace-considered-in = Answers of the council that considered it
trace-in-the-answer-to = In the answer to
trace-councils-answer = The council's answer:
trace-not-answered = The council has not answered it yet.
trace-feed = Follow it without email:
trace-feed-link = this submission's updates as an Atom feed
field-about = About
field-abstaining = Abstaining
field-against = Against
field-agenda = Agenda
field-algorithm = Algorithm
field-answers-the-adoption = Answers the adoption
field-area = Area
field-asks-for-a-name-and-postcode = Asks for a name and postcode
field-assembly = Assembly
field-call = Call
field-closes-on = Closes on
field-consent-text = Consent text
field-contact = Contact
field-council = Council
field-council-s-trust-root = Council's trust root
field-council-name = Council's name
field-days-personal-text-is-kept = Days personal text is kept
field-days-the-council-has-to-answer = Days the council has to answer
field-decision = Decision
field-document = Document
field-ends-on = Ends on
field-erased-on = Erased on
field-erases-the-content-of = Erases the content of
field-evidence = Evidence
field-for = For
field-for-the-adoption = For the adoption
field-for-the-text = For the text
field-hash-of-the-pool = Hash of the pool
field-held-on = Held on
field-holder = Holder
field-how-it-came = How it came
field-in-place-of = In place of
field-inputs-cited = Inputs cited
field-inputs-considered = Inputs considered
field-key = Key
field-legal-basis = Legal basis
field-letter = Letter
field-longest-submission-bytes = Longest submission (bytes)
field-media-type = Media type
field-member = Member
field-members-drawn = Members drawn
field-members-present = Members present
field-moderation-policy = Moderation policy
field-new-text = New text
field-note = Note
field-one-submission-per-key = One submission per key
field-opens-on = Opens on
field-panel-size = Panel size
field-personal-data-kept-days = Personal data kept (days)
field-pool-commitment = Pool commitment
field-possible-panels = Possible panels
field-presented-by = Presented by
field-progress = Progress (%)
field-question = Question
field-quotas = Quotas
field-rationale = Rationale
field-reason = Reason
field-reason-for-the-amendment = Reason for the amendment
field-reasons-to-withhold = Reasons to withhold
field-received-on = Received on
field-recommendation = Recommendation
field-replacement = Replacement
field-reserves-to-draw = Reserves to draw
field-reserves-in-order = Reserves, in order
field-address-list = Address list
field-addresses = Addresses
field-letters = Letters
field-area-column = Area column
field-letters-by-area = Letters by area
field-report = Report
field-responsible = Responsible
field-role = Role
field-scope = Scope
field-seed = Seed
field-seed-commitment = Seed commitment
field-session = Session
field-source-of-randomness = Source of randomness
field-starts-on = Starts on
field-status = Status
field-submission = Submission
field-submitter-pseudonymous = Submitter (pseudonymous)
field-text = Text
field-text-adopted = Text adopted
field-title = Title
field-to-be-done-by = To be done by
field-volunteers = Volunteers
field-votes-needed-to-adopt = Votes needed to adopt (%)
field-what-is-asked = What is asked
js-failure-pin = The keys this server signs with are not the ones your browser trusts for it.
js-failure-stale = This server showed an older record than your browser has already seen from it.
js-failure-fork = This server's log does not extend the one your browser saw before: it rewrote history.
js-failure-incomplete = The server left something out of the record it sent for this page.
js-failure-inclusion = An event the server sent is not in the signed log where it says.
js-failure-signature = An event's signature does not verify: what it says was changed.
js-failure-witness = The log's witnesses have not cosigned this record: it may be a view shown only to you.
js-failure-checkpoint = The log's signed checkpoint does not check out.
js-failure-chain = A stream of the record is broken: an event was dropped, reordered or altered.
js-failure-authority = An event was signed by a key that did not hold the role it needs.
js-failure-rule = The record breaks one of its rules.
js-failure-payload = An event of the record cannot be read.
js-failure-opening = Text shown does not match what its author signed.
js-failure-document = A document shown does not match the hash its event signed.
js-failure-format = What the server sent for checking is not a Kleroterion record.
js-failure-other = The record does not check out.
js-badge-verified = ✓ Verified
js-badge-failed = ✗ Not verified
js-badge-unchecked = Not checked
js-badge-neutral = Nothing to check
js-details-failed = What went wrong, and what was checked
js-details-checked = What your browser checked
js-step-checkpoint =
    { $cosigned ->
        [none] Checked the log's signed checkpoint of { $size } events with the log key your browser trusts.
       *[other] Checked the log's signed checkpoint of { $size } events with the log key your browser trusts, cosigned by the witnesses { $cosigned }.
    }
js-step-events =
    { $signatures ->
        [0] Checked { $events } events: each one's place in the log (signatures not checked), each author's role, and every rule of the record.
       *[other] Checked { $events } events: each one's place in the log, { $signatures } authors' signatures, each author's role, and every rule of the record.
    }
js-step-streams = Checked that no event of the page's { $streams } streams was left out: the checkpoint commits to each one's last event.
js-step-openings = Checked { $count } opened texts against the commitments their authors signed.
js-step-documents = Checked { $count } documents against the hashes their events signed.
js-step-extends = Checked that this log extends the one of { $size } events your browser saw on { $on }.
js-an-earlier-visit = an earlier visit
js-step-rebuilt = Rebuilt the page from all of that (the counts, the chances of selection, the overdue answers, the digests of the views) and compared it with what the server sent.
js-nothing-from-record = Nothing on this page comes from the record, so there is nothing to check.
js-could-not-fetch = Your browser could not fetch the record to check this page ({ $error }). Try again later; nothing on it is checked meanwhile.
js-server-did-not-send = The server did not send the record to check this page ({ $status }: { $reason }). Try again later; nothing on it is checked meanwhile.
js-at-log-index =  (at log index { $index })
js-pin-trusted = Your browser trusted, since { $since }, the log key { $log_key } and the trust root { $trust_root }.
js-its-first-visit = its first visit
js-pin-now = The server now names the log key { $log_key } and the trust root { $trust_root }.
js-pin-why = This happens when the council changes its keys, or when someone between you and the server (a network, a proxy) shows you another record. Compare the new keys with the ones your council publishes before you trust them.
js-pin-trust-new = I have compared the keys: trust the new ones
js-differs = This page differs from the signed record. It now shows what your browser derived from the record.
js-difference = In “{ $where }”, the server's page showed { $served }; the record gives { $derived }.
js-matches = Your browser rebuilt this page from the signed record, and it matches what the server sent.
js-derived = Your browser derived this page from the signed record.
js-not-sent = Not sent: { $reason }
js-appeal-recorded = Your appeal is in the record: another moderator will decide again.
js-working = Your browser is doing a moment of work before it sends…
js-received = Received: your submission is in the record
js-received-text = It is event { $index }, signed in this browser with a key only this browser holds, so no one else can have written it or changed it. A moderator will publish it or withhold it under the call's policy.
js-mine-heading = What you sent from this browser
js-mine-item = Your submission of { $on } (event { $index }): what became of it
js-checking-page = Checking this page against the signed record…
js-could-not-check = Your browser could not check this page: { $error }. Nothing on it is checked.
js-not-a-receipt = That is not a receipt Kleroterion gave: it names no event.
js-checking-receipt = Checking your receipt against the signed record…
js-could-not-check-receipt = Your browser could not check the receipt: { $error }.
js-with-attribute = { $element } with { $name } “{ $value }”
update-published = Your submission was published
update-withheld = Your submission was withheld: { $reason }
update-cited = Recommendation { $id } cites your submission
update-answered = The council answered recommendation { $id }, which cites your submission: { $decision }
update-published-means = Its text is now on the assembly's public pages.
update-withheld-means = Its text is not shown on the public pages. You may appeal, once, from your submission's page in the browser that sent it; a different moderator then decides.
update-cited-means = The panel drew on your submission for this recommendation.
update-answered-means = The council's answer, its reasons and who is to act are on your submission's page.
mail-follow = Follow your submission, checked by your own browser:
mail-feed = The same updates, without email (Atom feed):
mail-recorded = This was recorded as event { $index } of the public record.
mail-why = You get these emails because you left this address with your submission to assembly { $assembly }. To stop them, ask the council to erase your submission's personal details: nothing is sent to an erased address.
form-error-website = Not sent: a field for programs was filled in. If you are a person, leave it empty and send again.
form-error-consent = Not sent: tick the box to agree to how your submission is used, or do not send it.
form-error-text = Not sent: write your submission in the box first.
form-error-email = Not sent: write an email address like name@example.org, or leave it empty.
form-error-call-open = Not sent: this call is not taking submissions now. The assembly's page gives its dates.
form-error-too-long = Not sent: your submission is longer than this call takes. Shorten it and send again.
form-error-no-call = Not sent: this assembly has no such call.
form-error-too-many = Not sent: many submissions have come from your network or key just now. Try again in a few minutes.
feed-receipt-title = What became of submission { $index }
feed-entry-event =  (event { $index } of the record)
