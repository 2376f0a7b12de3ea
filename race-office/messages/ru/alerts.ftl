# Оповещения для бегунов: заголовок push-уведомления и письмо.

month-1 = января
month-2 = февраля
month-3 = марта
month-4 = апреля
month-5 = мая
month-6 = июня
month-7 = июля
month-8 = августа
month-9 = сентября
month-10 = октября
month-11 = ноября
month-12 = декабря
date = { $day } { $month } { $year } г.
date-time = { $day } { $month } { $year } г., { $time }

push-cancelled = { $event } отменён
push-suspended = { $event } приостановлен
push-rescheduled = { $event } переносится на { $start }
push-scheduled = { $event } снова в силе: { $start }
push-completed = { $event } завершён

mail-greeting = Здравствуйте, { $name }!
mail-cancelled = { $event }, запланированный на { $start }, отменён.
mail-suspended = { $event }, запланированный на { $start }, приостановлен. Мы напишем, как только будет принято решение.
mail-rescheduled = { $event } переносится на новый старт: { $start }.
mail-scheduled = { $event } снова в силе: старт { $start }.
mail-completed = { $event } завершён.
mail-subject-scheduled = { $event } снова в силе
mail-reason = Организатор сообщает: { $reason }
mail-refund-choice = Что можно сделать: на странице забега выберите полный возврат взноса или оставьте стартовый пакет, а остаток передайте на благотворительность. Заявки принимаются до конца дня { $deadline } ({ $zone }).
mail-no-refund = Возврат для этого забега не предусмотрен; что будет дальше, сказано на странице забега.
mail-details = Подробности — на странице забега.
mail-footer = Вы получили это письмо, потому что зарегистрированы на этот забег. Письмо отправлено автоматически; ответы не читаются.

refund-full = полный возврат
refund-kit-and-donate = стартовый пакет и пожертвование
refund-approved = одобрена
refund-rejected = отклонена
refund-paid = выплачена
refund-updated = обновлена
mail-refund = Ваша заявка ({ $option }, { $event }) { $outcome }.
mail-refund-subject = { $event }: заявка на возврат { $outcome }
