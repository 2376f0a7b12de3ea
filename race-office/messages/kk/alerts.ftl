# Жүгірушілерге арналған хабарламалар: push тақырыбы және хат.
# Debian Chromium-да қазақ тілінің күн деректері жоқ: ай атаулары осы жерден алынады.

month-1 = қаңтар
month-2 = ақпан
month-3 = наурыз
month-4 = сәуір
month-5 = мамыр
month-6 = маусым
month-7 = шілде
month-8 = тамыз
month-9 = қыркүйек
month-10 = қазан
month-11 = қараша
month-12 = желтоқсан
date = { $year } ж. { $day } { $month }
date-time = { $year } ж. { $day } { $month }, { $time }

push-cancelled = { $event } болдырылмады
push-suspended = { $event } уақытша тоқтатылды
push-rescheduled = { $event } { $start } уақытына ауыстырылды
push-scheduled = { $event } қайта өтеді: { $start }
push-completed = { $event } аяқталды

mail-greeting = Құрметті { $name },
mail-cancelled = { $start } уақытына жоспарланған { $event } болдырылмады.
mail-suspended = { $start } уақытына жоспарланған { $event } уақытша тоқтатылды. Шешім қабылданғанда қайта жазамыз.
mail-rescheduled = { $event } жаңа уақытқа ауыстырылды: { $start }.
mail-scheduled = { $event } қайта өтеді: старт { $start }.
mail-completed = { $event } аяқталды.
mail-subject-scheduled = { $event } қайта өтеді
mail-reason = Ұйымдастырушы хабарлайды: { $reason }
mail-refund-choice = Не істеуге болады: жарыс бетінде жарнаны толық қайтаруды таңдаңыз, не стартер-пакетті алып, қалғанын қайырымдылыққа беріңіз. Өтінімдер { $deadline } күнінің соңына дейін қабылданады ({ $zone }).
mail-no-refund = Бұл жарыс үшін қайтару қарастырылмаған; әрі қарай не болатыны жарыс бетінде жазылған.
mail-details = Толығырақ жарыс бетінде.
mail-footer = Бұл хат сіз осы жарысқа тіркелгендіктен жіберілді. Хат автоматты түрде жіберілді; жауаптар оқылмайды.

refund-full = толық қайтару
refund-kit-and-donate = стартер-пакет және қайырымдылық
refund-approved = мақұлданды
refund-rejected = қабылданбады
refund-paid = төленді
refund-updated = жаңартылды
mail-refund = Сіздің өтініміңіз ({ $option }, { $event }) { $outcome }.
mail-refund-subject = { $event }: қайтару өтініміңіз { $outcome }
