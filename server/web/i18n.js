// Every text the runner page, its service worker (the fallbacks it is handed) and
// GraphiQL's welcome comment show, in Kazakh, Russian and English; the choice of language;
// and dates, numbers and money written per language in the race's own time zone.
//
// Debian's Chromium has no Kazakh locale data (`Intl.DateTimeFormat('kk')` writes
// "2027 M04 18"), so Kazakh month and weekday names and word order come from here, as the
// server's message files write them ("2027 ж. 18 сәуір, 08:00"); `Intl` writes a date
// only in a language whose month names it turns out to have. A text missing in a language
// falls back KK -> RU -> EN.

export const LANGUAGES = ['kk', 'ru', 'en'];
/** Each language in itself, for the switch. */
export const LANGUAGE_NAMES = { kk: 'Қазақша', ru: 'Русский', en: 'English' };
const FALLBACK = { kk: ['kk', 'ru', 'en'], ru: ['ru', 'en'], en: ['en'] };

// ---- Plural forms (CLDR's rules for whole numbers) -----------------------------------

/** The form of `n` in `lang`: en one/other, ru one/few/many; Kazakh nouns do not change
 * after a number. */
function pluralForm(n, lang) {
  if (lang === 'ru') {
    const ten = n % 10;
    const hundred = n % 100;
    if (ten === 1 && hundred !== 11) return 'one';
    if (ten >= 2 && ten <= 4 && (hundred < 12 || hundred > 14)) return 'few';
    return 'many';
  }
  if (lang === 'en') return n === 1 ? 'one' : 'other';
  return 'other';
}
const pick = (n, forms, lang) => forms[pluralForm(n, lang)] ?? forms.other;

// ---- The texts ---------------------------------------------------------------------
// A text is a string with {placeholders}, or a function of the arguments (already written
// out in the language, numbers kept as numbers).

const en = {
  'page.title': 'Race day: Almaty Marathon races and alerts',
  'page.description': 'Races, registrations and live alerts for Almaty Marathon runners.',
  'page.brand': 'Race day',
  'page.skip': 'Skip to the races',
  'page.language': 'Language',
  'page.footerBefore': 'Organizers and developers: everything else is in ',
  'page.footerAfter': '.',
  'page.unreachable': 'Could not reach the gateway: {error}',
  'account.heading': 'Your account',
  'alerts.heading': 'Alerts',
  'alerts.intro':
    'Get a notification on this device when one of your races is suspended, cancelled or moved, even with this page closed.',
  'registrations.heading': 'Your registrations',
  'races.heading': 'Upcoming races',
  'races.loading': 'Loading the races…',
  'races.past': 'Past races',
  'races.none': 'No upcoming races.',

  'connection.live': 'Live',
  'connection.connecting': 'Connecting…',
  'connection.offline': 'Reconnecting…',

  'banner.CANCELLED': '{event} is cancelled',
  'banner.SUSPENDED': '{event} is suspended',
  'banner.RESCHEDULED': '{event} moves to {start}',
  'banner.SCHEDULED': '{event} is on again',
  'banner.COMPLETED': '{event} is over',
  'banner.other': '{event}: {status}',
  'banner.planned': 'Planned start: {start}',
  'banner.start': 'Start: {start}',
  'banner.refund': 'Your refund request for {event}: {outcome}',
  'banner.dismiss': 'Dismiss this alert',
  'banner.seeRace': 'See the race',

  'log.heading': 'Recent alerts',
  'log.empty': 'No alerts yet.',
  'log.older': 'Show older alerts',
  'log.shown': ({ count }) => `${count} older alert${count === 1 ? '' : 's'} shown.`,
  'log.noOlder': 'No older alerts.',
  'log.olderFailed': 'Could not load older alerts: {error}',
  'log.failed': 'Could not load your alerts ({error}): trying again…',

  'session.ended': 'Your session has ended: sign in again.',
  'session.signedOut': 'Signed out.',
  'session.signedInElsewhere': 'Signed in from another tab.',
  'session.signedOutElsewhere': 'Signed out from another tab.',
  'session.welcome': 'Welcome, {name}: your account is ready.',
  'session.noToken': 'This confirmation link has no token: open the whole link from the mail.',
  'session.notConfirmed': 'Your sign-up could not be confirmed. {error}',
  'session.resetSignOutFirst': 'To choose a new password with this link, sign out first.',
  'session.languageNotSaved': 'Could not save the language for your account: {error}',

  'push.on': 'Alert me on this device',
  'push.off': 'Stop alerts',
  'push.isOn': 'Alerts are on for this device.',
  'push.isOff': 'Alerts are off for this device.',
  'push.unsupported': 'This browser cannot receive push alerts; the banner above still works while the page is open.',
  'push.checkFailed': 'Could not check alerts: {error}',
  'push.failed': 'That did not work: {error}',
  'push.blocked': 'Notifications are blocked for this site: allow them in the browser to get alerts.',
  'push.rekeyed': 'The gateway changed its key: this device was subscribed again.',
  'push.noWorker': 'No service worker: {error}',

  'sw.title': 'Race update',
  'sw.body': 'Open the race page for the details.',
  'sw.CANCELLED': 'A race is cancelled',
  'sw.SUSPENDED': 'A race is suspended',
  'sw.RESCHEDULED': 'A race moves to a new start',
  'sw.SCHEDULED': 'A race is on again',
  'sw.COMPLETED': 'A race is over',

  'graphiql.welcome': 'The race-day gateway. Races, soonest first:',

  'event.SCHEDULED': 'Scheduled',
  'event.SUSPENDED': 'Suspended',
  'event.CANCELLED': 'Cancelled',
  'event.RESCHEDULED': 'Rescheduled',
  'event.COMPLETED': 'Completed',
  'registration.OPEN': 'Registration open',
  'registration.SUSPENDED': 'Registration suspended',
  'registration.CLOSED': 'Registration closed',
  'kit.PENDING': 'Pending',
  'kit.READY': 'Ready to collect',
  'kit.ISSUED': 'Issued',
  'refundStatus.SUBMITTED': 'Submitted',
  'refundStatus.APPROVED': 'Approved',
  'refundStatus.REJECTED': 'Rejected',
  'refundStatus.PAID': 'Paid',
  'outcome.APPROVED': 'approved',
  'outcome.REJECTED': 'rejected',
  'outcome.PAID': 'paid',
  'outcome.SUBMITTED': 'submitted',
  'option.FULL_REFUND': 'Full refund',
  'option.KIT_AND_DONATE': 'Kit and donation',

  'race.starts': 'Starts',
  'race.where': 'Where',
  'race.placesLeft': 'Places left',
  'race.distances': 'Distances and fees',
  'race.distance': 'Distance',
  'race.length': 'Length',
  'race.fee': 'Fee',
  'race.signInToRegister': 'Sign in to register.',
  'race.registerFor': 'Register for {event}',
  'race.tshirt': 'T-shirt',
  'race.noTshirt': 'No T-shirt',
  'race.register': 'Register',
  'race.registered': 'You are registered: bib {bib}, {distance}.',
  'race.history': 'Status history ({count})',
  'race.change': '{from} → {to}',
  'race.announcedAs': ({ status }) => `Announced as ${status.toLowerCase()}`,
  'race.newStart': ' (new start {start})',
  'race.option': '{distance}, {fee}',

  'org.tools': 'Organizer tools for {event}',
  'org.cannotChange': ({ status }) => `A ${status.toLowerCase()} race cannot change status.`,
  'org.pushReports': 'Push reports',
  'org.refresh': 'Refresh the reports',
  'org.reach': 'Reach',
  'org.reachIntro': 'Who each alert reached on any channel (this page, a push, a mail), read again every 5 seconds.',
  'org.announceChange': 'Announce a change',
  'org.newStatus': 'New status',
  'org.reason': 'Reason (shown to every runner)',
  'org.translations': 'The reason in other languages (optional)',
  'org.reasonIn.KK': 'Reason in Kazakh',
  'org.reasonIn.RU': 'Reason in Russian',
  'org.reasonIn.EN': 'Reason in English',
  'org.newStart': 'New start ({zone} time)',
  'org.email': 'Email the runners',
  'org.announce': 'Announce',
  'org.announced': 'Announced: {status}.',
  'action.SUSPENDED': 'Suspend',
  'action.SCHEDULED': 'Resume as scheduled',
  'action.CANCELLED': 'Cancel the race',
  'action.RESCHEDULED': 'Reschedule',
  'policy.UNREACHED': 'Only runners the alert has not reached after a while',
  'policy.ALL': 'Every registered runner, now',
  'policy.NONE': 'Nobody',
  'reports.none': 'No alerts yet.',
  'reports.caption': 'What became of each alert’s pushes',
  'reports.alert': 'Alert',
  'reports.alertName': '{status}, {at}',
  'reports.queued': 'Queued',
  'reports.sent': 'Sent',
  'reports.delivered': 'Delivered',
  'reports.failed': 'Failed',
  'reports.pruned': 'Pruned',
  'reports.dropped': 'Dropped',
  'reports.pending': 'Pending',
  'reach.caption': 'Whom each alert reached',
  'reach.targeted': 'Targeted',
  'reach.acknowledged': 'Acknowledged',
  'reach.emailed': 'Emailed',
  'reach.emailFailed': 'Email failed',
  'reach.unreached': 'Unreached',
  'reach.notReached': 'Not reached: {alert}',
  'reach.toPhone': 'Not reached yet, to phone: {alert}',
  'reach.runner': ', {email} ({mail})',
  'reach.more': 'and {count} more',
  'mail.PENDING': 'mail pending',
  'mail.FAILED': 'mail refused',
  'mail.refused': 'mail refused: {reply}',
  'mail.NOT_MAILED': 'not mailed',
  'mail.SENT': 'sent',

  'form.email': 'Email',
  'form.password': 'Password',
  'signIn.heading': 'Sign in',
  'signIn.button': 'Sign in',
  'signUp.heading': 'New here? Create a runner account',
  'signUp.name': 'Your name',
  'signUp.password': 'Password (at least 10 characters)',
  'signUp.button': 'Create account',
  'signUp.sent': 'Check your mail: the message we sent tells you how to finish signing up. We wrote to {email}.',
  'confirm.summary': 'Have a confirmation mail? Confirm your sign-up',
  'confirm.hint': 'Open the link in the mail we sent, or paste the token it gives here.',
  'confirm.token': 'Token from the mail',
  'confirm.button': 'Confirm sign-up',
  'reset.summary': 'Forgot your password?',
  'reset.ask': 'Ask for a reset link',
  'reset.mailMe': 'Mail me a reset link',
  'reset.sent': 'If this address has an account, a link is on its way (valid for an hour).',
  'reset.choose': 'Choose a new password',
  'reset.token': 'Token from the reset mail',
  'reset.newPassword': 'New password (at least 10 characters)',
  'reset.set': 'Set the new password',
  'reset.done': 'Your password is changed and every session signed out: sign in with it.',
  'who.before': 'Signed in as ',
  'who.after': ' ({email}), {role}.',
  'who.RUNNER': 'runner',
  'who.ORGANIZER': 'organizer for {organization}',
  'who.PARTNER': 'partner account of {organization}',
  'who.yourOrganization': 'your organization',
  'who.signOut': 'Sign out',

  'reg.none': 'No registrations yet: choose a race below.',
  'reg.distance': 'Distance',
  'reg.bib': 'Bib',
  'reg.fee': 'Fee paid',
  'reg.tshirt': 'T-shirt',
  'reg.noTshirt': 'none',
  'reg.kit': 'Starter kit',
  'reg.race': 'Race',
  'refund.choice': 'Your choice: {option}. ',
  'refund.kitShare': 'Kit share {kit}, donated {donation}. ',
  'refund.amount': 'Refund {amount}. ',
  'refund.on': ' on {at}',
  'refund.note': ': “{note}”',
  'refund.none': 'This race offers no refunds.',
  'refund.passed': 'The deadline to choose passed on {at}.',
  'refund.chooseBy': 'The race is cancelled. Choose by {at}:',
  'refund.kitOption': 'Keep the starter kit, T-shirt and medal for part of the fee; the rest goes to the charities',
  'refund.fullOption': 'Full refund of the fee',
  'refund.consent': 'I agree that the donated part goes to the marathon’s charity projects',
  'refund.send': 'Send my choice',
  'refund.tick': 'Tick the consent box to donate, or choose a full refund.',

  'error.RATE_LIMITED': 'Too many attempts: wait a minute, then try again.',
  'error.RATE_LIMITED.wait': ({ seconds }) =>
    `Too many attempts: wait ${
      seconds < 90 ? `${seconds} second${seconds === 1 ? '' : 's'}` : `${Math.ceil(seconds / 60)} minutes`
    }, then try again.`,
  'error.INVALID_CONFIRMATION_TOKEN':
    'That confirmation does not work: the token is mistyped, older than 24 hours, replaced by a ' +
    'newer sign-up or already used. If you confirmed before, sign in; if not, sign up again for a new mail.',
  'error.INVALID_RESET_TOKEN':
    'That reset token does not work: it is mistyped, older than an hour or already used. Ask for a new link.',
  'error.INVALID_CREDENTIALS': 'The email or password is wrong.',
  'error.UNAUTHENTICATED': 'Sign in first.',
  'error.FORBIDDEN': 'This account may not do that.',
  'error.NOT_FOUND': 'That is not there any more: reload the page.',
  'error.BAD_USER_INPUT': 'Something in the form is not accepted: check it and try again.',
  'error.CONFLICT': 'That clashes with a change made meanwhile: reload the page and try again.',
  'error.INVALID_STATUS_TRANSITION': 'The race cannot change to that status now: reload the page.',
  'error.REGISTRATION_CLOSED': 'Registration for this race is not open.',
  'error.SOLD_OUT': 'The race is full.',
  'error.ALREADY_REGISTERED': 'You are already registered for this race.',
  'error.ALREADY_REQUESTED': 'You have already sent your choice for this registration.',
  'error.DEADLINE_PASSED': 'The deadline to choose has passed.',
  'error.REFUND_NOT_AVAILABLE': 'That choice is not offered for this registration.',
  'error.KIT_ISSUE_NOT_STARTED': 'Starter kits are not issued for this race yet.',
  'error.CURSOR_TOO_OLD': 'Reload the page to catch up.',
  'error.INTERNAL': 'Something went wrong on our side: try again in a moment.',
  'error.busy': 'The gateway is busy: try again in a moment.',
  'error.network': 'The gateway cannot be reached: check the connection and try again.',
};

const ru = {
  'page.title': 'День забега: забеги и оповещения Алматинского марафона',
  'page.description': 'Забеги, регистрация и оповещения в реальном времени для участников Алматинского марафона.',
  'page.brand': 'День забега',
  'page.skip': 'Перейти к забегам',
  'page.language': 'Язык',
  'page.footerBefore': 'Организаторам и разработчикам: всё остальное — в ',
  'page.footerAfter': '.',
  'page.unreachable': 'Не удалось связаться с сервером: {error}',
  'account.heading': 'Ваш аккаунт',
  'alerts.heading': 'Оповещения',
  'alerts.intro':
    'Получайте уведомление на этом устройстве, когда один из ваших забегов приостановлен, отменён или перенесён, даже если страница закрыта.',
  'registrations.heading': 'Ваши регистрации',
  'races.heading': 'Ближайшие забеги',
  'races.loading': 'Загружаем забеги…',
  'races.past': 'Прошедшие забеги',
  'races.none': 'Ближайших забегов нет.',

  'connection.live': 'На связи',
  'connection.connecting': 'Подключение…',
  'connection.offline': 'Переподключение…',

  'banner.CANCELLED': '{event} отменён',
  'banner.SUSPENDED': '{event} приостановлен',
  'banner.RESCHEDULED': '{event} переносится на {start}',
  'banner.SCHEDULED': '{event} снова в силе',
  'banner.COMPLETED': '{event} завершён',
  'banner.other': '{event}: {status}',
  'banner.planned': 'Запланированный старт: {start}',
  'banner.start': 'Старт: {start}',
  'banner.refund': 'Ваша заявка на возврат ({event}): {outcome}',
  'banner.dismiss': 'Закрыть оповещение',
  'banner.seeRace': 'Открыть забег',

  'log.heading': 'Последние оповещения',
  'log.empty': 'Оповещений пока нет.',
  'log.older': 'Показать более ранние оповещения',
  'log.shown': ({ count }, lang) =>
    `Показано ещё ${count} ${pick(count, { one: 'оповещение', few: 'оповещения', many: 'оповещений' }, lang)}.`,
  'log.noOlder': 'Более ранних оповещений нет.',
  'log.olderFailed': 'Не удалось загрузить более ранние оповещения: {error}',
  'log.failed': 'Не удалось загрузить ваши оповещения ({error}): пробуем ещё раз…',

  'session.ended': 'Сеанс завершён: войдите снова.',
  'session.signedOut': 'Вы вышли.',
  'session.signedInElsewhere': 'Вход выполнен в другой вкладке.',
  'session.signedOutElsewhere': 'Выход выполнен в другой вкладке.',
  'session.welcome': 'Добро пожаловать, {name}: ваш аккаунт готов.',
  'session.noToken': 'В этой ссылке нет токена подтверждения: откройте ссылку из письма целиком.',
  'session.notConfirmed': 'Не удалось подтвердить регистрацию. {error}',
  'session.resetSignOutFirst': 'Чтобы задать новый пароль по этой ссылке, сначала выйдите.',
  'session.languageNotSaved': 'Не удалось сохранить язык для вашего аккаунта: {error}',

  'push.on': 'Оповещать на этом устройстве',
  'push.off': 'Отключить оповещения',
  'push.isOn': 'Оповещения на этом устройстве включены.',
  'push.isOff': 'Оповещения на этом устройстве выключены.',
  'push.unsupported': 'Этот браузер не принимает push-оповещения; пока страница открыта, баннер вверху работает.',
  'push.checkFailed': 'Не удалось проверить оповещения: {error}',
  'push.failed': 'Не получилось: {error}',
  'push.blocked': 'Уведомления для этого сайта запрещены: разрешите их в браузере, чтобы получать оповещения.',
  'push.rekeyed': 'Сервер сменил ключ: это устройство подписано заново.',
  'push.noWorker': 'Нет service worker: {error}',

  'sw.title': 'Новости забега',
  'sw.body': 'Подробности — на странице забега.',
  'sw.CANCELLED': 'Забег отменён',
  'sw.SUSPENDED': 'Забег приостановлен',
  'sw.RESCHEDULED': 'Забег переносится',
  'sw.SCHEDULED': 'Забег снова в силе',
  'sw.COMPLETED': 'Забег завершён',

  'graphiql.welcome': 'Шлюз race-day. Забеги, ближайшие первыми:',

  'event.SCHEDULED': 'Запланирован',
  'event.SUSPENDED': 'Приостановлен',
  'event.CANCELLED': 'Отменён',
  'event.RESCHEDULED': 'Перенесён',
  'event.COMPLETED': 'Завершён',
  'registration.OPEN': 'Регистрация открыта',
  'registration.SUSPENDED': 'Регистрация приостановлена',
  'registration.CLOSED': 'Регистрация закрыта',
  'kit.PENDING': 'Готовится',
  'kit.READY': 'Можно забрать',
  'kit.ISSUED': 'Выдан',
  'refundStatus.SUBMITTED': 'Отправлена',
  'refundStatus.APPROVED': 'Одобрена',
  'refundStatus.REJECTED': 'Отклонена',
  'refundStatus.PAID': 'Выплачена',
  'outcome.APPROVED': 'одобрена',
  'outcome.REJECTED': 'отклонена',
  'outcome.PAID': 'выплачена',
  'outcome.SUBMITTED': 'отправлена',
  'option.FULL_REFUND': 'Полный возврат',
  'option.KIT_AND_DONATE': 'Стартовый пакет и пожертвование',

  'race.starts': 'Старт',
  'race.where': 'Место',
  'race.placesLeft': 'Осталось мест',
  'race.distances': 'Дистанции и взносы',
  'race.distance': 'Дистанция',
  'race.length': 'Длина',
  'race.fee': 'Взнос',
  'race.signInToRegister': 'Войдите, чтобы зарегистрироваться.',
  'race.registerFor': 'Регистрация на забег {event}',
  'race.tshirt': 'Футболка',
  'race.noTshirt': 'Без футболки',
  'race.register': 'Зарегистрироваться',
  'race.registered': 'Вы зарегистрированы: номер {bib}, {distance}.',
  'race.history': 'История статусов ({count})',
  'race.change': '{from} → {to}',
  'race.announcedAs': ({ status }) => `Объявлен: ${status.toLowerCase()}`,
  'race.newStart': ' (новый старт {start})',
  'race.option': '{distance}, {fee}',

  'org.tools': 'Инструменты организатора: {event}',
  'org.cannotChange': 'Статус забега «{status}» изменить нельзя.',
  'org.pushReports': 'Отчёты о push-оповещениях',
  'org.refresh': 'Обновить отчёты',
  'org.reach': 'Охват',
  'org.reachIntro': 'Кого достигло каждое оповещение по любому каналу (эта страница, push, письмо); обновляется каждые 5 секунд.',
  'org.announceChange': 'Объявить изменение',
  'org.newStatus': 'Новый статус',
  'org.reason': 'Причина (её увидят все бегуны)',
  'org.translations': 'Причина на других языках (необязательно)',
  'org.reasonIn.KK': 'Причина на казахском',
  'org.reasonIn.RU': 'Причина на русском',
  'org.reasonIn.EN': 'Причина на английском',
  'org.newStart': 'Новый старт (время {zone})',
  'org.email': 'Письмо бегунам',
  'org.announce': 'Объявить',
  'org.announced': 'Объявлено: {status}.',
  'action.SUSPENDED': 'Приостановить',
  'action.SCHEDULED': 'Возобновить по плану',
  'action.CANCELLED': 'Отменить забег',
  'action.RESCHEDULED': 'Перенести',
  'policy.UNREACHED': 'Только тем, до кого оповещение не дошло за отведённое время',
  'policy.ALL': 'Всем зарегистрированным, сразу',
  'policy.NONE': 'Никому',
  'reports.none': 'Оповещений пока нет.',
  'reports.caption': 'Что стало с push-оповещениями',
  'reports.alert': 'Оповещение',
  'reports.alertName': '{status}, {at}',
  'reports.queued': 'В очереди',
  'reports.sent': 'Отправлено',
  'reports.delivered': 'Доставлено',
  'reports.failed': 'Ошибки',
  'reports.pruned': 'Удалено',
  'reports.dropped': 'Отброшено',
  'reports.pending': 'Ожидает',
  'reach.caption': 'Кого достигло каждое оповещение',
  'reach.targeted': 'Адресатов',
  'reach.acknowledged': 'Прочитали',
  'reach.emailed': 'Получили письмо',
  'reach.emailFailed': 'Письмо не дошло',
  'reach.unreached': 'Не достигнуты',
  'reach.notReached': 'Не достигнуты: {alert}',
  'reach.toPhone': 'Ещё не достигнуты, позвонить: {alert}',
  'reach.runner': ', {email} ({mail})',
  'reach.more': 'и ещё {count}',
  'mail.PENDING': 'письмо ждёт отправки',
  'mail.FAILED': 'письмо отклонено',
  'mail.refused': 'письмо отклонено: {reply}',
  'mail.NOT_MAILED': 'письмо не отправлялось',
  'mail.SENT': 'письмо отправлено',

  'form.email': 'Email',
  'form.password': 'Пароль',
  'signIn.heading': 'Вход',
  'signIn.button': 'Войти',
  'signUp.heading': 'Впервые здесь? Создайте аккаунт бегуна',
  'signUp.name': 'Ваше имя',
  'signUp.password': 'Пароль (не короче 10 символов)',
  'signUp.button': 'Создать аккаунт',
  'signUp.sent': 'Проверьте почту: в письме сказано, как завершить регистрацию. Мы написали на {email}.',
  'confirm.summary': 'Получили письмо с подтверждением? Подтвердите регистрацию',
  'confirm.hint': 'Откройте ссылку из нашего письма или вставьте сюда токен из него.',
  'confirm.token': 'Токен из письма',
  'confirm.button': 'Подтвердить регистрацию',
  'reset.summary': 'Забыли пароль?',
  'reset.ask': 'Запросить ссылку для сброса',
  'reset.mailMe': 'Прислать ссылку для сброса',
  'reset.sent': 'Если у этого адреса есть аккаунт, ссылка уже в пути (действует час).',
  'reset.choose': 'Выберите новый пароль',
  'reset.token': 'Токен из письма для сброса',
  'reset.newPassword': 'Новый пароль (не короче 10 символов)',
  'reset.set': 'Сохранить новый пароль',
  'reset.done': 'Пароль изменён, все сеансы завершены: войдите с новым паролем.',
  'who.before': 'Вы вошли как ',
  'who.after': ' ({email}), {role}.',
  'who.RUNNER': 'бегун',
  'who.ORGANIZER': 'организатор ({organization})',
  'who.PARTNER': 'партнёрский аккаунт ({organization})',
  'who.yourOrganization': 'ваша организация',
  'who.signOut': 'Выйти',

  'reg.none': 'Регистраций пока нет: выберите забег ниже.',
  'reg.distance': 'Дистанция',
  'reg.bib': 'Номер',
  'reg.fee': 'Оплачено',
  'reg.tshirt': 'Футболка',
  'reg.noTshirt': 'нет',
  'reg.kit': 'Стартовый пакет',
  'reg.race': 'Забег',
  'refund.choice': 'Ваш выбор: {option}. ',
  'refund.kitShare': 'Стоимость пакета {kit}, пожертвовано {donation}. ',
  'refund.amount': 'Возврат {amount}. ',
  'refund.on': ' {at}',
  'refund.note': ': «{note}»',
  'refund.none': 'Возврат для этого забега не предусмотрен.',
  'refund.passed': 'Срок выбора истёк {at}.',
  'refund.chooseBy': 'Забег отменён. Выберите до {at}:',
  'refund.kitOption':
    'Оставить стартовый пакет, футболку и медаль за часть взноса; остальное — на благотворительность',
  'refund.fullOption': 'Полный возврат взноса',
  'refund.consent': 'Я согласен(на), что пожертвованная часть пойдёт на благотворительные проекты марафона',
  'refund.send': 'Отправить выбор',
  'refund.tick': 'Отметьте согласие, чтобы сделать пожертвование, или выберите полный возврат.',

  'error.RATE_LIMITED': 'Слишком много попыток: подождите минуту и попробуйте снова.',
  'error.RATE_LIMITED.wait': ({ seconds }, lang) => {
    const wait =
      seconds < 90
        ? `${seconds} ${pick(seconds, { one: 'секунду', few: 'секунды', many: 'секунд' }, lang)}`
        : `${Math.ceil(seconds / 60)} ${pick(Math.ceil(seconds / 60), { one: 'минуту', few: 'минуты', many: 'минут' }, lang)}`;
    return `Слишком много попыток: подождите ${wait} и попробуйте снова.`;
  },
  'error.INVALID_CONFIRMATION_TOKEN':
    'Это подтверждение не действует: токен введён с ошибкой, старше 24 часов, заменён более новой ' +
    'регистрацией или уже использован. Если вы уже подтверждали регистрацию, войдите; если нет, ' +
    'зарегистрируйтесь снова, чтобы получить новое письмо.',
  'error.INVALID_RESET_TOKEN':
    'Этот токен для сброса не действует: он введён с ошибкой, старше часа или уже использован. Запросите новую ссылку.',
  'error.INVALID_CREDENTIALS': 'Неверный email или пароль.',
  'error.UNAUTHENTICATED': 'Сначала войдите.',
  'error.FORBIDDEN': 'Этому аккаунту это не разрешено.',
  'error.NOT_FOUND': 'Этого уже нет: обновите страницу.',
  'error.BAD_USER_INPUT': 'Что-то в форме не принято: проверьте её и попробуйте снова.',
  'error.CONFLICT': 'Это противоречит изменению, сделанному тем временем: обновите страницу и попробуйте снова.',
  'error.INVALID_STATUS_TRANSITION': 'Сейчас забег нельзя перевести в этот статус: обновите страницу.',
  'error.REGISTRATION_CLOSED': 'Регистрация на этот забег не открыта.',
  'error.SOLD_OUT': 'Мест на забег больше нет.',
  'error.ALREADY_REGISTERED': 'Вы уже зарегистрированы на этот забег.',
  'error.ALREADY_REQUESTED': 'Вы уже отправили выбор по этой регистрации.',
  'error.DEADLINE_PASSED': 'Срок выбора истёк.',
  'error.REFUND_NOT_AVAILABLE': 'Для этой регистрации такой вариант не предусмотрен.',
  'error.KIT_ISSUE_NOT_STARTED': 'Стартовые пакеты на этот забег ещё не выдаются.',
  'error.CURSOR_TOO_OLD': 'Обновите страницу, чтобы увидеть всё.',
  'error.INTERNAL': 'У нас что-то пошло не так: попробуйте чуть позже.',
  'error.busy': 'Сервер перегружен: попробуйте чуть позже.',
  'error.network': 'Сервер недоступен: проверьте подключение и попробуйте снова.',
};

const kk = {
  'page.title': 'Жарыс күні: Алматы марафонының жарыстары мен хабарламалары',
  'page.description': 'Алматы марафоны жүгірушілеріне арналған жарыстар, тіркелу және жедел хабарламалар.',
  'page.brand': 'Жарыс күні',
  'page.skip': 'Жарыстарға өту',
  'page.language': 'Тіл',
  'page.footerBefore': 'Ұйымдастырушылар мен әзірлеушілерге: қалғанының бәрі ',
  'page.footerAfter': ' ішінде.',
  'page.unreachable': 'Серверге қосылу мүмкін болмады: {error}',
  'account.heading': 'Аккаунтыңыз',
  'alerts.heading': 'Хабарламалар',
  'alerts.intro':
    'Жарыстарыңыздың бірі тоқтатылса, болдырылмаса немесе басқа уақытқа ауыстырылса, бұл бет жабық болса да, осы құрылғыға хабарлама алыңыз.',
  'registrations.heading': 'Тіркелулеріңіз',
  'races.heading': 'Алдағы жарыстар',
  'races.loading': 'Жарыстар жүктелуде…',
  'races.past': 'Өткен жарыстар',
  'races.none': 'Алдағы жарыстар жоқ.',

  'connection.live': 'Байланыста',
  'connection.connecting': 'Қосылуда…',
  'connection.offline': 'Қайта қосылуда…',

  'banner.CANCELLED': '{event} болдырылмады',
  'banner.SUSPENDED': '{event} уақытша тоқтатылды',
  'banner.RESCHEDULED': '{event} {start} уақытына ауыстырылды',
  'banner.SCHEDULED': '{event} қайта өтеді',
  'banner.COMPLETED': '{event} аяқталды',
  'banner.other': '{event}: {status}',
  'banner.planned': 'Жоспарланған старт: {start}',
  'banner.start': 'Старт: {start}',
  'banner.refund': 'Қайтару өтініміңіз ({event}): {outcome}',
  'banner.dismiss': 'Хабарламаны жабу',
  'banner.seeRace': 'Жарысты ашу',

  'log.heading': 'Соңғы хабарламалар',
  'log.empty': 'Әзірге хабарлама жоқ.',
  'log.older': 'Бұрынғы хабарламаларды көрсету',
  'log.shown': 'Тағы {count} хабарлама көрсетілді.',
  'log.noOlder': 'Бұрынғы хабарламалар жоқ.',
  'log.olderFailed': 'Бұрынғы хабарламаларды жүктеу мүмкін болмады: {error}',
  'log.failed': 'Хабарламаларыңызды жүктеу мүмкін болмады ({error}): қайта әрекет жасалуда…',

  'session.ended': 'Сеанс аяқталды: қайта кіріңіз.',
  'session.signedOut': 'Сіз шықтыңыз.',
  'session.signedInElsewhere': 'Басқа қойындыда кірдіңіз.',
  'session.signedOutElsewhere': 'Басқа қойындыда шықтыңыз.',
  'session.welcome': 'Қош келдіңіз, {name}: аккаунтыңыз дайын.',
  'session.noToken': 'Бұл растау сілтемесінде токен жоқ: хаттағы сілтемені толығымен ашыңыз.',
  'session.notConfirmed': 'Тіркелуіңізді растау мүмкін болмады. {error}',
  'session.resetSignOutFirst': 'Осы сілтеме арқылы жаңа құпиясөз таңдау үшін алдымен шығыңыз.',
  'session.languageNotSaved': 'Аккаунтыңыздың тілін сақтау мүмкін болмады: {error}',

  'push.on': 'Осы құрылғыға хабарлау',
  'push.off': 'Хабарламаларды өшіру',
  'push.isOn': 'Осы құрылғыда хабарламалар қосулы.',
  'push.isOff': 'Осы құрылғыда хабарламалар өшірулі.',
  'push.unsupported': 'Бұл браузер push-хабарламаларды қабылдай алмайды; бет ашық тұрғанда жоғарыдағы баннер жұмыс істейді.',
  'push.checkFailed': 'Хабарламаларды тексеру мүмкін болмады: {error}',
  'push.failed': 'Орындалмады: {error}',
  'push.blocked': 'Бұл сайтқа хабарландыруларға тыйым салынған: хабарлама алу үшін оларға браузерде рұқсат беріңіз.',
  'push.rekeyed': 'Сервер кілтін ауыстырды: бұл құрылғы қайта жазылды.',
  'push.noWorker': 'Service worker жоқ: {error}',

  'sw.title': 'Жарыс жаңалығы',
  'sw.body': 'Толығырақ жарыс бетінде.',
  'sw.CANCELLED': 'Жарыс болдырылмады',
  'sw.SUSPENDED': 'Жарыс уақытша тоқтатылды',
  'sw.RESCHEDULED': 'Жарыс басқа уақытқа ауыстырылды',
  'sw.SCHEDULED': 'Жарыс қайта өтеді',
  'sw.COMPLETED': 'Жарыс аяқталды',

  'graphiql.welcome': 'race-day шлюзі. Жарыстар, ең жақыны бірінші:',

  'event.SCHEDULED': 'Жоспарланған',
  'event.SUSPENDED': 'Уақытша тоқтатылған',
  'event.CANCELLED': 'Болдырылмаған',
  'event.RESCHEDULED': 'Ауыстырылған',
  'event.COMPLETED': 'Аяқталған',
  'registration.OPEN': 'Тіркелу ашық',
  'registration.SUSPENDED': 'Тіркелу тоқтатылған',
  'registration.CLOSED': 'Тіркелу жабық',
  'kit.PENDING': 'Дайындалуда',
  'kit.READY': 'Алуға дайын',
  'kit.ISSUED': 'Берілді',
  'refundStatus.SUBMITTED': 'Жіберілді',
  'refundStatus.APPROVED': 'Мақұлданды',
  'refundStatus.REJECTED': 'Қабылданбады',
  'refundStatus.PAID': 'Төленді',
  'outcome.APPROVED': 'мақұлданды',
  'outcome.REJECTED': 'қабылданбады',
  'outcome.PAID': 'төленді',
  'outcome.SUBMITTED': 'жіберілді',
  'option.FULL_REFUND': 'Толық қайтару',
  'option.KIT_AND_DONATE': 'Стартер-пакет және қайырымдылық',

  'race.starts': 'Старт',
  'race.where': 'Өтетін орны',
  'race.placesLeft': 'Бос орындар',
  'race.distances': 'Қашықтықтар мен жарналар',
  'race.distance': 'Қашықтық',
  'race.length': 'Ұзындығы',
  'race.fee': 'Жарна',
  'race.signInToRegister': 'Тіркелу үшін кіріңіз.',
  'race.registerFor': '{event}: тіркелу',
  'race.tshirt': 'Футболка',
  'race.noTshirt': 'Футболкасыз',
  'race.register': 'Тіркелу',
  'race.registered': 'Сіз тіркелдіңіз: нөмір {bib}, {distance}.',
  'race.history': 'Мәртебе тарихы ({count})',
  'race.change': '{from} → {to}',
  'race.announcedAs': ({ status }) => `Жарияланды: ${status.toLowerCase()}`,
  'race.newStart': ' (жаңа старт {start})',
  'race.option': '{distance}, {fee}',

  'org.tools': 'Ұйымдастырушы құралдары: {event}',
  'org.cannotChange': '{status} жарыстың мәртебесін өзгертуге болмайды.',
  'org.pushReports': 'Push-хабарламалар есебі',
  'org.refresh': 'Есептерді жаңарту',
  'org.reach': 'Қамту',
  'org.reachIntro': 'Әр хабарлама кімге кез келген арна арқылы жетті (осы бет, push, хат); әр 5 секунд сайын жаңартылады.',
  'org.announceChange': 'Өзгерісті жариялау',
  'org.newStatus': 'Жаңа мәртебе',
  'org.reason': 'Себебі (барлық жүгірушіге көрсетіледі)',
  'org.translations': 'Себебі басқа тілдерде (міндетті емес)',
  'org.reasonIn.KK': 'Себебі қазақ тілінде',
  'org.reasonIn.RU': 'Себебі орыс тілінде',
  'org.reasonIn.EN': 'Себебі ағылшын тілінде',
  'org.newStart': 'Жаңа старт ({zone} уақыты)',
  'org.email': 'Жүгірушілерге хат',
  'org.announce': 'Жариялау',
  'org.announced': 'Жарияланды: {status}.',
  'action.SUSPENDED': 'Уақытша тоқтату',
  'action.SCHEDULED': 'Жоспар бойынша жалғастыру',
  'action.CANCELLED': 'Жарысты болдырмау',
  'action.RESCHEDULED': 'Басқа уақытқа ауыстыру',
  'policy.UNREACHED': 'Хабарлама белгілі уақыт ішінде жетпегендерге ғана',
  'policy.ALL': 'Тіркелгендердің бәріне, бірден',
  'policy.NONE': 'Ешкімге',
  'reports.none': 'Әзірге хабарлама жоқ.',
  'reports.caption': 'Әр хабарламаның push-хабарламалары',
  'reports.alert': 'Хабарлама',
  'reports.alertName': '{status}, {at}',
  'reports.queued': 'Кезекте',
  'reports.sent': 'Жіберілді',
  'reports.delivered': 'Жеткізілді',
  'reports.failed': 'Сәтсіз',
  'reports.pruned': 'Өшірілді',
  'reports.dropped': 'Тасталды',
  'reports.pending': 'Күтуде',
  'reach.caption': 'Әр хабарлама кімге жетті',
  'reach.targeted': 'Адресаттар',
  'reach.acknowledged': 'Көргендер',
  'reach.emailed': 'Хат алғандар',
  'reach.emailFailed': 'Хат жетпеді',
  'reach.unreached': 'Жетпегендер',
  'reach.notReached': 'Жетпегендер: {alert}',
  'reach.toPhone': 'Әлі жетпегендер, қоңырау шалу керек: {alert}',
  'reach.runner': ', {email} ({mail})',
  'reach.more': 'және тағы {count}',
  'mail.PENDING': 'хат күтуде',
  'mail.FAILED': 'хат қабылданбады',
  'mail.refused': 'хат қабылданбады: {reply}',
  'mail.NOT_MAILED': 'хат жіберілмеген',
  'mail.SENT': 'хат жіберілді',

  'form.email': 'Email',
  'form.password': 'Құпиясөз',
  'signIn.heading': 'Кіру',
  'signIn.button': 'Кіру',
  'signUp.heading': 'Мұнда алғаш рет пе? Жүгіруші аккаунтын ашыңыз',
  'signUp.name': 'Атыңыз',
  'signUp.password': 'Құпиясөз (кемінде 10 таңба)',
  'signUp.button': 'Аккаунт ашу',
  'signUp.sent': 'Поштаңызды тексеріңіз: біз жіберген хатта тіркелуді қалай аяқтау керегі жазылған. Хатты {email} мекенжайына жібердік.',
  'confirm.summary': 'Растау хаты келді ме? Тіркелуді растаңыз',
  'confirm.hint': 'Біз жіберген хаттағы сілтемені ашыңыз немесе ондағы токенді осында қойыңыз.',
  'confirm.token': 'Хаттағы токен',
  'confirm.button': 'Тіркелуді растау',
  'reset.summary': 'Құпиясөзді ұмыттыңыз ба?',
  'reset.ask': 'Қалпына келтіру сілтемесін сұрау',
  'reset.mailMe': 'Қалпына келтіру сілтемесін жіберу',
  'reset.sent': 'Бұл мекенжайдың аккаунты болса, сілтеме жолда (бір сағат жарамды).',
  'reset.choose': 'Жаңа құпиясөз таңдау',
  'reset.token': 'Қалпына келтіру хатындағы токен',
  'reset.newPassword': 'Жаңа құпиясөз (кемінде 10 таңба)',
  'reset.set': 'Жаңа құпиясөзді сақтау',
  'reset.done': 'Құпиясөзіңіз өзгертілді, барлық сеанс жабылды: жаңа құпиясөзбен кіріңіз.',
  'who.before': 'Кірген аккаунт: ',
  'who.after': ' ({email}), {role}.',
  'who.RUNNER': 'жүгіруші',
  'who.ORGANIZER': '{organization} ұйымдастырушысы',
  'who.PARTNER': '{organization} серіктес аккаунты',
  'who.yourOrganization': 'ұйымыңыз',
  'who.signOut': 'Шығу',

  'reg.none': 'Әзірге тіркелу жоқ: төменнен жарыс таңдаңыз.',
  'reg.distance': 'Қашықтық',
  'reg.bib': 'Нөмір',
  'reg.fee': 'Төленген жарна',
  'reg.tshirt': 'Футболка',
  'reg.noTshirt': 'жоқ',
  'reg.kit': 'Стартер-пакет',
  'reg.race': 'Жарыс',
  'refund.choice': 'Таңдауыңыз: {option}. ',
  'refund.kitShare': 'Пакет үлесі {kit}, қайырымдылыққа {donation}. ',
  'refund.amount': 'Қайтарылатын сома {amount}. ',
  'refund.on': ', {at}',
  'refund.note': ': «{note}»',
  'refund.none': 'Бұл жарыс үшін қайтару қарастырылмаған.',
  'refund.passed': 'Таңдау мерзімі {at} өтті.',
  'refund.chooseBy': 'Жарыс болдырылмады. {at} дейін таңдаңыз:',
  'refund.kitOption':
    'Жарнаның бір бөлігіне стартер-пакетті, футболка мен медальді алу; қалғаны қайырымдылыққа беріледі',
  'refund.fullOption': 'Жарнаны толық қайтару',
  'refund.consent': 'Қайырымдылыққа берілетін бөлік марафонның қайырымдылық жобаларына жұмсалатынына келісемін',
  'refund.send': 'Таңдауды жіберу',
  'refund.tick': 'Қайырымдылық жасау үшін келісім белгісін қойыңыз немесе толық қайтаруды таңдаңыз.',

  'error.RATE_LIMITED': 'Әрекет тым көп: бір минут күтіп, қайталап көріңіз.',
  'error.RATE_LIMITED.wait': ({ seconds }) =>
    `Әрекет тым көп: ${seconds < 90 ? `${seconds} секунд` : `${Math.ceil(seconds / 60)} минут`} күтіп, қайталап көріңіз.`,
  'error.INVALID_CONFIRMATION_TOKEN':
    'Бұл растау жарамсыз: токен қате терілген, 24 сағаттан ескі, жаңа тіркелумен ауыстырылған немесе ' +
    'бұрын пайдаланылған. Бұрын растаған болсаңыз, кіріңіз; болмаса, жаңа хат алу үшін қайта тіркеліңіз.',
  'error.INVALID_RESET_TOKEN':
    'Бұл қалпына келтіру токені жарамсыз: қате терілген, бір сағаттан ескі немесе бұрын пайдаланылған. Жаңа сілтеме сұраңыз.',
  'error.INVALID_CREDENTIALS': 'Email немесе құпиясөз қате.',
  'error.UNAUTHENTICATED': 'Алдымен кіріңіз.',
  'error.FORBIDDEN': 'Бұл аккаунтқа мұны істеуге рұқсат жоқ.',
  'error.NOT_FOUND': 'Бұл енді жоқ: бетті жаңартыңыз.',
  'error.BAD_USER_INPUT': 'Формадағы бір мән қабылданбады: тексеріп, қайталап көріңіз.',
  'error.CONFLICT': 'Бұл осы аралықта енгізілген өзгеріске қайшы: бетті жаңартып, қайталап көріңіз.',
  'error.INVALID_STATUS_TRANSITION': 'Жарысты қазір бұл мәртебеге ауыстыруға болмайды: бетті жаңартыңыз.',
  'error.REGISTRATION_CLOSED': 'Бұл жарысқа тіркелу ашық емес.',
  'error.SOLD_OUT': 'Жарыста бос орын қалмады.',
  'error.ALREADY_REGISTERED': 'Сіз бұл жарысқа тіркелгенсіз.',
  'error.ALREADY_REQUESTED': 'Бұл тіркелу бойынша таңдауыңызды жібергенсіз.',
  'error.DEADLINE_PASSED': 'Таңдау мерзімі өтіп кетті.',
  'error.REFUND_NOT_AVAILABLE': 'Бұл тіркелу үшін мұндай нұсқа қарастырылмаған.',
  'error.KIT_ISSUE_NOT_STARTED': 'Бұл жарыстың стартер-пакеттері әлі берілмейді.',
  'error.CURSOR_TOO_OLD': 'Бәрін көру үшін бетті жаңартыңыз.',
  'error.INTERNAL': 'Біз жақта бірдеңе дұрыс болмады: сәлден кейін қайталап көріңіз.',
  'error.busy': 'Сервер қазір бос емес: сәлден кейін қайталап көріңіз.',
  'error.network': 'Серверге қосылу мүмкін емес: байланысты тексеріп, қайталап көріңіз.',
};

export const MESSAGES = { en, ru, kk };

// ---- Names for dates, as the server's message files have them --------------------------

const MONTHS = {
  en: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
  // Genitive: "18 апреля".
  ru: ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря'],
  kk: ['қаңтар', 'ақпан', 'наурыз', 'сәуір', 'мамыр', 'маусым', 'шілде', 'тамыз', 'қыркүйек', 'қазан', 'қараша', 'желтоқсан'],
};
/** Monday first. */
const WEEKDAYS = {
  en: ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'],
  ru: ['понедельник', 'вторник', 'среда', 'четверг', 'пятница', 'суббота', 'воскресенье'],
  kk: ['дүйсенбі', 'сейсенбі', 'сәрсенбі', 'бейсенбі', 'жұма', 'сенбі', 'жексенбі'],
};
export { MONTHS };

// ---- The language in use -----------------------------------------------------------

const CHOICE_KEY = 'race-day:language';
let current = 'en';
const listeners = new Set();

export function language() {
  return current;
}

/** The first of the browser's languages that we have (`kk-KZ` is kk), else English. */
export function fromBrowser(tags = globalThis.navigator?.languages ?? []) {
  for (const tag of tags) {
    const primary = String(tag).toLowerCase().split(/[-_]/)[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return 'en';
}

/** The language chosen on this device, or null. */
export function chosen() {
  try {
    const value = globalThis.localStorage?.getItem(CHOICE_KEY);
    return LANGUAGES.includes(value) ? value : null;
  } catch {
    return null;
  }
}

/** What to start with: this device's choice, else the browser's. */
export function initialLanguage() {
  return chosen() ?? fromBrowser();
}

/** Switches to `lang` (kk, ru, en; or KK, RU, EN as the API writes it); `remember` keeps
 * it on this device. Listeners hear every change. */
export function setLanguage(lang, { remember = false } = {}) {
  const next = String(lang).toLowerCase();
  if (!LANGUAGES.includes(next)) return;
  if (remember) {
    try {
      globalThis.localStorage?.setItem(CHOICE_KEY, next);
    } catch {
      // private mode: the choice lasts for this page only
    }
  }
  if (next === current) return;
  current = next;
  for (const listener of listeners) listener(next);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** The storage key of the choice (another tab's change arrives as a `storage` event). */
export { CHOICE_KEY };

// ---- Texts that follow the language ----------------------------------------------------

/** A text in no particular language yet: written out when shown, and again when the
 * language changes (see dom.js). `String(msg)` writes it in the current language. */
export class Msg {
  constructor(key, args = {}, fallback = undefined) {
    this.key = key;
    this.args = args;
    this.fallback = fallback;
  }

  in(lang) {
    return t(this.key, this.args, lang, this.fallback);
  }

  toString() {
    return this.in(current);
  }
}

class Lazy extends Msg {
  constructor(write) {
    super(null);
    this.write = write;
  }

  in(lang) {
    return this.write(lang);
  }
}

/** Text `key` with `args` (strings, numbers, other texts); `fallback` when no language
 * has the key (a status the page does not know yet, say). */
export const m = (key, args = {}, fallback = undefined) => new Msg(key, args, fallback);
/** A text written by `write(lang)`. */
export const lazy = (write) => new Lazy(write);

/** `value` written out in `lang`. */
export function text(value, lang = current) {
  if (value instanceof Msg) return value.in(lang);
  if (typeof value === 'function') return value(lang);
  return value === undefined || value === null ? '' : String(value);
}

export function has(key, lang) {
  return FALLBACK[lang].some((l) => MESSAGES[l][key] !== undefined);
}

/** Text `key` in `lang`, falling back KK -> RU -> EN when a language lacks it. */
export function t(key, args = {}, lang = current, fallback = undefined) {
  const order = FALLBACK[lang] ?? FALLBACK.en;
  const found = order.map((l) => MESSAGES[l][key]).find((v) => v !== undefined);
  if (found === undefined) return fallback !== undefined ? text(fallback, lang) : key;
  const written = {};
  for (const [name, value] of Object.entries(args)) {
    written[name] = typeof value === 'number' ? value : text(value, lang);
  }
  if (typeof found === 'function') return found(written, lang);
  return found.replace(/\{(\w+)\}/g, (_, name) => (name in written ? String(written[name]) : `{${name}}`));
}

/** A value of an enum in words: `kind` is the text's prefix (event, kit, option, …). */
export const word = (kind, value) => m(`${kind}.${value}`, {}, value);

// ---- Dates, numbers, money -------------------------------------------------------------

/** The wall-clock parts of `instant` in `timeZone` (zone data is there in every language). */
function partsIn(instant, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(new Date(instant))
      .map((p) => [p.type, p.value]),
  );
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday);
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday,
    time: `${parts.hour}:${parts.minute}`,
  };
}

/** Whether this browser's `Intl` has `lang`'s month names (Debian's Chromium has none
 * for Kazakh: it writes "M04"). Asked once per language. */
const intlKnows = {};
function hasIntlNames(lang) {
  if (!(lang in intlKnows)) {
    try {
      const april = new Intl.DateTimeFormat(lang, { timeZone: 'UTC', day: 'numeric', month: 'long' }).format(
        Date.UTC(2027, 3, 18, 12),
      );
      intlKnows[lang] = april.includes(MONTHS[lang][3]);
    } catch {
      intlKnows[lang] = false;
    }
  }
  return intlKnows[lang];
}

/** A day: "18 April 2027", "18 апреля 2027 г.", "2027 ж. 18 сәуір". */
function writeDay(instant, timeZone, lang) {
  if (lang !== 'kk' && hasIntlNames(lang)) {
    return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : lang, {
      timeZone,
      day: 'numeric',
      month: 'long',
      year: 'numeric',
    }).format(new Date(instant));
  }
  const { year, month, day } = partsIn(instant, timeZone);
  const name = MONTHS[lang][month - 1];
  if (lang === 'kk') return `${year} ж. ${day} ${name}`;
  if (lang === 'ru') return `${day} ${name} ${year} г.`;
  return `${day} ${name} ${year}`;
}

function weekdayName(instant, timeZone, lang) {
  if (lang !== 'kk' && hasIntlNames(lang)) {
    return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : lang, { timeZone, weekday: 'long' }).format(new Date(instant));
  }
  return WEEKDAYS[lang][partsIn(instant, timeZone).weekday];
}

/** A moment in the race's zone: en "Sunday, 18 April 2027 at 08:00", ru "воскресенье,
 * 18 апреля 2027 г., 08:00", kk "2027 ж. 18 сәуір, жексенбі, 08:00" (the weekday when
 * asked for; the zone's name after it when `zone`). */
export function writeDateTime(instant, timeZone, { weekday = false, zone = false } = {}, lang = current) {
  let written;
  if (lang === 'en' && hasIntlNames('en')) {
    written = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      weekday: weekday ? 'long' : undefined,
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(new Date(instant));
  } else {
    const day = writeDay(instant, timeZone, lang);
    const { time } = partsIn(instant, timeZone);
    const named = weekday ? weekdayName(instant, timeZone, lang) : null;
    if (lang === 'kk') written = [day, named, time].filter(Boolean).join(', ');
    else written = [named, day, time].filter(Boolean).join(', ');
  }
  return zone ? `${written} (${timeZone})` : written;
}

/** A moment, short, for lists: en "18 Apr 2027, 08:00", else as writeDateTime. */
export function writeMoment(instant, timeZone, lang = current) {
  if (lang === 'en') {
    return new Intl.DateTimeFormat('en-GB', {
      timeZone,
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(new Date(instant));
  }
  return writeDateTime(instant, timeZone, {}, lang);
}

/** Whole digits grouped: "15 000" (a no-break space, as Intl writes Russian). */
function grouped(whole, separator) {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, separator);
}

/** A money value as the API gives it ({ amount: "15000.00", currency: "KZT" }): en
 * "15 000 KZT" (as before), ru and kk "15 000 ₸". */
export function writeMoney({ amount, currency }, lang = current) {
  const [whole, fraction = '00'] = String(amount).split('.');
  if (lang === 'en') {
    return `${grouped(whole, '\u202f')}${fraction === '00' ? '' : `.${fraction}`} ${currency}`;
  }
  const symbol = { KZT: '₸', RUB: '₽' }[currency] ?? currency;
  return `${grouped(whole, '\u00a0')}${fraction === '00' ? '' : `,${fraction}`}\u00a0${symbol}`;
}

export function writeNumber(n, lang = current) {
  if (lang === 'en') return n.toLocaleString('en-GB');
  const [whole, fraction] = String(n).split('.');
  return `${grouped(whole, '\u00a0')}${fraction ? `,${fraction}` : ''}`;
}

/** Metres as "42.195 km" / "42,195 км". */
export function writeDistance(metres, lang = current) {
  const km = metres / 1000;
  const figure = Number.isInteger(km) ? String(km) : km.toFixed(3).replace(/0+$/, '');
  return lang === 'en' ? `${figure} km` : `${figure.replace('.', ',')} км`;
}

// The same, as texts that follow the language on the page.
export const dateTime = (instant, timeZone, options = {}) => lazy((l) => writeDateTime(instant, timeZone, options, l));
export const moment = (instant, timeZone) => lazy((l) => writeMoment(instant, timeZone, l));
export const money = (value) => lazy((l) => writeMoney(value, l));
export const number = (n) => lazy((l) => writeNumber(n, l));
export const distance = (metres) => lazy((l) => writeDistance(metres, l));

/** The organizer's reason in `lang` when given (`reasons`), else the reason. */
export function reasonIn(change, lang = current) {
  const wanted = lang.toUpperCase();
  return change.reasons?.find((r) => r.language === wanted)?.text ?? change.reason ?? '';
}
