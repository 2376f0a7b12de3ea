# Alerts as runners read them: the push title, the mail. Every message exists in every
# language with the same variables (a test checks it).

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
# A day in the event's zone, and a moment: 18 April 2027, 08:00
date = { $day } { $month } { $year }
date-time = { $day } { $month } { $year }, { $time }

push-cancelled = { $event } is cancelled
push-suspended = { $event } is suspended
push-rescheduled = { $event } moves to { $start }
push-scheduled = { $event } is on again: { $start }
push-completed = { $event } is over

mail-greeting = Dear { $name },
mail-cancelled = { $event }, planned for { $start }, is cancelled.
mail-suspended = { $event }, planned for { $start }, is suspended. We will write again as soon as it is decided.
mail-rescheduled = { $event } moves to a new start: { $start }.
mail-scheduled = { $event } is on again: start { $start }.
mail-completed = { $event } is over.
mail-subject-scheduled = { $event } is on again
mail-reason = The organizer says: { $reason }
mail-refund-choice = What you can do: on the race page, choose a full refund of your fee, or keep your starter kit and give the rest to charity. Applications close at the end of { $deadline } ({ $zone }).
mail-no-refund = No refund is offered for this race; the race page says what happens next.
mail-details = The race page has the details.
mail-footer = You receive this because you are registered for this race. This message was sent automatically; replies are not read.

refund-full = a full refund
refund-kit-and-donate = your starter kit and a donation to charity
refund-approved = approved
refund-rejected = declined
refund-paid = paid
refund-updated = updated
mail-refund = Your request for { $option } ({ $event }) is { $outcome }.
mail-refund-subject = { $event }: your refund request is { $outcome }
