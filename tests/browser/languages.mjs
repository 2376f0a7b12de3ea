// The runner page in Kazakh and in Russian, in Debian's Chromium with its `locale` set as a
// runner's browser would be (kk-KZ, ru-RU). The whole journey runs once, in English
// (journey.mjs); here, per language, the parts where the language shows: the page's own
// texts and <html lang>, a date with its month name (Debian's Chromium has no Kazakh
// month names: they must come from the page's own texts), money, sign-up with the mail's
// link, registration, "Alert me", the banner and the alert log for a cancellation (the
// organizer's reason in the runner's language), the push and the service worker's own
// fallback, the language switch (the page at once, the account's language read back
// through GraphQL), the account's language winning at sign-in, and GraphiQL's welcome.
//
// The expected texts are written out here, not read from the page's i18n.js, so that a
// text changed or lost there fails here.

import { join } from 'node:path';
import { ask, check, GATEWAY, graphql, log, until, watch } from './support.mjs';
import { notifications, pushWorker, received } from './push-stand-in.mjs';

/** What each language must show. */
export const EXPECTED = {
  kk: {
    locale: 'kk-KZ',
    api: 'KK',
    months: ['қаңтар', 'ақпан', 'наурыз', 'сәуір', 'мамыр', 'маусым', 'шілде', 'тамыз', 'қыркүйек', 'қазан', 'қараша', 'желтоқсан'],
    /** Sunday first, as Date.getUTCDay counts. */
    weekdays: ['жексенбі', 'дүйсенбі', 'сейсенбі', 'сәрсенбі', 'бейсенбі', 'жұма', 'сенбі'],
    /** A day and time as the server's message files write them. */
    dateTime: ({ year, month, day, time }, months) => `${year} ж. ${day} ${months[month - 1]}, ${time}`,
    /** The same with the weekday, as a race's card shows its start. */
    withWeekday: ({ year, month, day, time }, months, weekday) => `${year} ж. ${day} ${months[month - 1]}, ${weekday}, ${time}`,
    title: 'Жарыс күні: Алматы марафонының жарыстары мен хабарламалары',
    racesHeading: 'Алдағы жарыстар',
    languageLabel: 'Тіл',
    signUpHeading: /Жүгіруші аккаунтын ашыңыз/,
    name: 'Атыңыз',
    password: /Құпиясөз/,
    createAccount: 'Аккаунт ашу',
    signUpSent: (email) => `Хатты ${email} мекенжайына жібердік.`,
    welcome: (name) => `Қош келдіңіз, ${name}: аккаунтыңыз дайын.`,
    signedInAs: 'Кірген аккаунт:',
    distance: 'Қашықтық',
    register: 'Тіркелу',
    registered: /Сіз тіркелдіңіз: нөмір (\d+)/,
    alertMe: 'Осы құрылғыға хабарлау',
    alertsOn: 'Осы құрылғыда хабарламалар қосулы.',
    live: 'Байланыста',
    cancelled: (race) => `${race} болдырылмады`,
    plannedStart: 'Жоспарланған старт: ',
    statusBadge: 'Болдырылмаған',
    workerFallback: 'Жарыс болдырылмады',
    graphiql: '# race-day шлюзі. Жарыстар, ең жақыны бірінші:',
    signOut: 'Шығу',
    signedOut: 'Сіз шықтыңыз.',
    signIn: 'Кіру',
    password1: 'Құпиясөз',
    reportsCaption: 'Әр хабарламаның push-хабарламалары',
    announce: 'Жариялау',
    newStatus: 'Жаңа мәртебе',
    reasonLabel: 'Себебі (барлық жүгірушіге көрсетіледі)',
    translations: 'Себебі басқа тілдерде (міндетті емес)',
    reasonIn: { KK: 'Себебі қазақ тілінде', RU: 'Себебі орыс тілінде' },
  },
  ru: {
    locale: 'ru-RU',
    api: 'RU',
    months: ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря'],
    weekdays: ['воскресенье', 'понедельник', 'вторник', 'среда', 'четверг', 'пятница', 'суббота'],
    dateTime: ({ year, month, day, time }, months) => `${day} ${months[month - 1]} ${year} г., ${time}`,
    withWeekday: ({ year, month, day, time }, months, weekday) => `${weekday}, ${day} ${months[month - 1]} ${year} г., ${time}`,
    title: 'День забега: забеги и оповещения Алматинского марафона',
    racesHeading: 'Ближайшие забеги',
    languageLabel: 'Язык',
    signUpHeading: /Создайте аккаунт бегуна/,
    name: 'Ваше имя',
    password: /Пароль/,
    createAccount: 'Создать аккаунт',
    signUpSent: (email) => `Мы написали на ${email}.`,
    welcome: (name) => `Добро пожаловать, ${name}: ваш аккаунт готов.`,
    signedInAs: 'Вы вошли как',
    distance: 'Дистанция',
    register: 'Зарегистрироваться',
    registered: /Вы зарегистрированы: номер (\d+)/,
    alertMe: 'Оповещать на этом устройстве',
    alertsOn: 'Оповещения на этом устройстве включены.',
    live: 'На связи',
    cancelled: (race) => `${race} отменён`,
    plannedStart: 'Запланированный старт: ',
    statusBadge: 'Отменён',
    workerFallback: 'Забег отменён',
    graphiql: '# Шлюз race-day. Забеги, ближайшие первыми:',
    signOut: 'Выйти',
    signedOut: 'Вы вышли.',
    signIn: 'Вход',
    password1: 'Пароль',
  },
};
const OTHER = { kk: 'ru', ru: 'kk' };
const SWITCH_NAMES = { kk: 'Қазақша', ru: 'Русский', en: 'English' };

/** The wall-clock parts of an event's `startsAtLocal` ("2027-05-16T08:00:00"). */
function wallClock(local) {
  const [, year, month, day, hh, mm] = local.match(/^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/);
  return { year: Number(year), month: Number(month), day: Number(day), time: `${hh}:${mm}` };
}

async function signUpAndConfirm(page, lang, runner) {
  const expected = EXPECTED[lang];
  const form = page.locator('form', { has: page.getByRole('heading', { name: expected.signUpHeading }) });
  await form.getByLabel(expected.name).fill(runner.name);
  await form.getByLabel('Email').fill(runner.email);
  await form.getByLabel(expected.password).fill(runner.password);
  const sent = page.waitForRequest((r) => r.url() === `${GATEWAY}/graphql` && (r.postData() ?? '').includes('signUp('));
  await form.getByRole('button', { name: expected.createAccount }).click();
  // The page's own choice, not only the browser's Accept-Language.
  const asked = JSON.parse((await sent).postData()).variables.input.language;
  check(asked === expected.api, `${lang}: signUp sends the page's language: ${asked}`);
  const status = form.locator('.form-status');
  await status.getByText(expected.signUpSent(runner.email), { exact: false }).waitFor();
  const mail = await ask('confirmation-mail', runner.email);
  check(mail.language === expected.api, `${lang}: the confirmation mail is written in the language: ${mail.language}`);
  await page.goto(mail.link);
  await page.locator('#account-body').getByText(expected.signedInAs).waitFor();
  const welcome = await page.locator('#page-status').textContent();
  check(welcome === expected.welcome(runner.name), `${lang}: the mail's link welcomes the runner in the language: ${welcome}`);
}

async function accountLanguage(page) {
  const { token } = JSON.parse(await page.evaluate(() => localStorage.getItem('race-day:session')));
  return (await graphql(token, '{ me { language } }')).me.language;
}

/** Switches the page with its language switch (labelled in the language shown). */
async function switchTo(page, from, to) {
  await page.getByLabel(EXPECTED[from]?.languageLabel ?? 'Language').selectOption({ label: SWITCH_NAMES[to] });
}

/**
 * One language: `race` ({ slug, name, id }) is cancelled for this runner by `cancel(reasons)`
 * (the organizer, in the runner's language's own way). Resolves when done.
 */
export async function languageRun(browser, { lang, race, raceA, subscription, mock, cancel, fakePushService, shots }) {
  const expected = EXPECTED[lang];
  const other = OTHER[lang];
  const started = Date.now();
  const context = await browser.newContext({ locale: expected.locale, viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['notifications'], { origin: GATEWAY });
  await context.addInitScript(fakePushService, subscription);
  const page = watch(await context.newPage(), `runner (${lang})`);
  await page.goto(`${GATEWAY}/`);

  // Anonymous, the page follows the browser's language: <html lang>, the title, headings,
  // the switch's label, the race's start with the month's name, money.
  check(
    JSON.stringify(await page.evaluate(() => navigator.languages)) === JSON.stringify([expected.locale]),
    `${lang}: the browser asks for ${expected.locale}`,
  );
  await until(`${lang}: <html lang>`, async () => (await page.evaluate(() => document.documentElement.lang)) === lang, 5_000);
  check((await page.title()) === expected.title, `${lang}: the page's title: ${await page.title()}`);
  check(
    (await page.locator('#races-heading').textContent()) === expected.racesHeading,
    `${lang}: the races' heading: ${await page.locator('#races-heading').textContent()}`,
  );
  const card = page.locator(`#race-${raceA.slug}`);
  const start = await card.locator('.facts time').textContent();
  const wall = wallClock(raceA.startsAtLocal);
  const weekday = expected.weekdays[new Date(Date.UTC(wall.year, wall.month - 1, wall.day)).getUTCDay()];
  const wanted = `${expected.withWeekday(wall, expected.months, weekday)} (Asia/Almaty)`;
  check(start === wanted && !/M\d\d/.test(start), `${lang}: the start reads "${wanted}": ${start}`);
  const fees = await page.locator(`#race-${race.slug} table.distances`).textContent();
  check(/7\s000\s₸/.test(fees), `${lang}: the fee reads "7 000 ₸": ${fees}`);
  log(`${lang}: anonymous page in ${lang}: "${expected.racesHeading}", start "${start}"`);

  // The switch works signed out too: English, then back.
  await switchTo(page, lang, 'en');
  await page.locator('#races-heading').getByText('Upcoming races', { exact: true }).waitFor();
  check((await page.evaluate(() => document.documentElement.lang)) === 'en', `${lang}: switched to English, <html lang> is en`);
  await switchTo(page, 'en', lang);
  await page.locator('#races-heading').getByText(expected.racesHeading, { exact: true }).waitFor();

  // Sign-up in the language: the account gets it.
  const runner = {
    name: lang === 'kk' ? 'Ерлан Жақсылықов' : 'Ольга Ким',
    email: `${lang}-runner-${Date.now()}@example.kz`,
    password: 'a long runner password',
  };
  await signUpAndConfirm(page, lang, runner);
  check((await accountLanguage(page)) === expected.api, `${lang}: signUp sent the page's language (${expected.api})`);

  // Registration and alerts, in the language.
  const raceCard = page.locator(`#race-${race.slug}`);
  const distance = raceCard.getByLabel(expected.distance);
  await distance.selectOption({ index: 0 });
  await raceCard.getByRole('button', { name: expected.register, exact: true }).click();
  await raceCard.getByText(expected.registered).waitFor({ timeout: 10_000 });
  await page.getByRole('button', { name: expected.alertMe }).click();
  await page.getByText(expected.alertsOn).waitFor();
  await page.getByText(expected.live, { exact: true }).waitFor();

  // The organizer cancels the race with the reason in English and translations; the
  // banner is the page's own, in the language: the race's name, the planned start in the
  // race's zone with the month's name, and the reason in the runner's language.
  const reasons = {
    EN: `The ${race.name} is cancelled: the course is flooded.`,
    KK: `${race.name} болдырылмады: трасса су астында қалды.`,
    RU: `${race.name} отменён: трассу затопило.`,
  };
  await cancel(reasons);
  const banner = page.locator('#banner');
  await banner.getByText(reasons[expected.api], { exact: true }).waitFor({ timeout: 10_000 });
  const title = await banner.locator('.banner-title').textContent();
  check(title === expected.cancelled(race.name), `${lang}: the banner's title: ${title}`);
  const planned = await banner.locator('.banner-start').textContent();
  const raceStart = expected.dateTime(wallClock(race.startsAtLocal), expected.months);
  check(planned === `${expected.plannedStart}${raceStart} (Asia/Almaty)`, `${lang}: the banner's start: ${planned}`);
  const logged = await page.locator('#alert-log li').first().textContent();
  check(
    logged.startsWith(`${expected.cancelled(race.name)}: ${reasons[expected.api]} `) &&
      logged.includes(expected.months[Number(new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Almaty', month: 'numeric' }).format(new Date())) - 1]),
    `${lang}: the alert log's entry, with its time: ${logged}`,
  );
  await raceCard.locator('.status').getByText(expected.statusBadge, { exact: true }).waitFor();
  log(`${lang}: banner "${title}" / "${planned}" / "${reasons[expected.api]}"`);
  await page.evaluate(() => window.scrollTo({ top: 0, behavior: 'instant' }));
  await page.screenshot({ path: join(shots, `runner-${lang}-after-cancellation.png`) });

  // The push: written by the gateway in the runner's language, shown as sent; a push
  // without a title gets the worker's own, in the page's language.
  await until(`${lang}: the push for the cancellation`, async () => (await received(mock, subscription)).received.length >= 1);
  const payload = (await received(mock, subscription)).received[0].payload;
  check(payload.title === expected.cancelled(race.name), `${lang}: the push's title is in the runner's language: ${payload.title}`);
  check(payload.body === reasons[expected.api], `${lang}: the push's body is the reason in the runner's language: ${payload.body}`);
  const worker = await pushWorker(context, page);
  await worker.deliver(payload);
  const shown = await until(`${lang}: the notification`, async () => {
    const list = await notifications(page);
    return list.length ? list : null;
  });
  check(shown.length === 1 && shown[0].title === payload.title, `${lang}: the notification shows the push's title: ${JSON.stringify(shown)}`);
  await worker.deliver({ status: 'CANCELLED' });
  const fallback = await until(`${lang}: the untitled push's notification`, async () => {
    const list = await notifications(page);
    return list.length > 1 ? list.find((n) => n.title !== payload.title) : null;
  });
  check(fallback.title === expected.workerFallback, `${lang}: a push without a title gets the worker's own: ${fallback.title}`);
  await worker.detach();
  log(`${lang}: push "${payload.title}"; the worker's own title "${fallback.title}"`);

  // The switch, signed in: the page at once (the banner too, with the organizer's other
  // translation), and the account's language, read back.
  await switchTo(page, lang, other);
  await until(`${lang}: <html lang> ${other}`, async () => (await page.evaluate(() => document.documentElement.lang)) === other, 5_000);
  check(
    (await page.locator('#races-heading').textContent()) === EXPECTED[other].racesHeading,
    `${lang}: switched, the heading is in ${other}: ${await page.locator('#races-heading').textContent()}`,
  );
  check(
    (await banner.locator('.banner-title').textContent()) === EXPECTED[other].cancelled(race.name),
    `${lang}: switched, the banner's title is in ${other}`,
  );
  check(
    (await banner.locator('.banner-reason').textContent()) === reasons[EXPECTED[other].api],
    `${lang}: switched, the banner shows the organizer's ${other} reason`,
  );
  await until(`${lang}: the account's language to be ${EXPECTED[other].api}`, async () => (await accountLanguage(page)) === EXPECTED[other].api);
  await switchTo(page, other, lang);
  await page.locator('#races-heading').getByText(expected.racesHeading, { exact: true }).waitFor();
  await until(`${lang}: the account's language back to ${expected.api}`, async () => (await accountLanguage(page)) === expected.api);
  log(`${lang}: switched to ${other} and back: the page and the account's language follow`);

  // Signed in elsewhere after choosing English here: the account's language wins.
  await page.getByRole('button', { name: expected.signOut }).click();
  await page.locator('#page-status').getByText(expected.signedOut, { exact: true }).waitFor();
  await switchTo(page, lang, 'en');
  await page.locator('#races-heading').getByText('Upcoming races', { exact: true }).waitFor();
  const signIn = page.locator('form', { has: page.getByRole('heading', { name: 'Sign in' }) });
  await signIn.getByLabel('Email').fill(runner.email);
  await signIn.getByLabel('Password').fill(runner.password);
  await signIn.getByRole('button', { name: 'Sign in' }).click();
  await until(`${lang}: the account's language at sign-in`, async () => (await page.evaluate(() => document.documentElement.lang)) === lang, 10_000);
  await page.locator('#races-heading').getByText(expected.racesHeading, { exact: true }).waitFor();
  log(`${lang}: signed in on an English page, the page turns to the account's ${lang}`);

  // GraphiQL welcomes in the language chosen on this device.
  const graphiql = watch(await context.newPage(), `graphiql (${lang})`);
  await graphiql.goto(`${GATEWAY}/graphql`);
  await graphiql.locator('.graphiql-query-editor').getByText(expected.graphiql).waitFor({ timeout: 15_000 });
  check((await graphiql.evaluate(() => document.documentElement.lang)) === lang, `${lang}: GraphiQL's <html lang>`);
  await context.close();
  log(`${lang}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Every text of the page's i18n.js in every language (the page itself falls back
 * KK -> RU -> EN, which would hide a missing one). */
export async function everyTextInEveryLanguage(browser) {
  const context = await browser.newContext({ locale: 'en-US' });
  const page = watch(await context.newPage(), 'texts');
  await page.goto(`${GATEWAY}/`);
  const missing = await page.evaluate(async () => {
    const { MESSAGES } = await import('/assets/i18n.js');
    const keys = Object.keys(MESSAGES.en);
    const out = [];
    for (const lang of ['kk', 'ru']) {
      for (const key of keys) if (!(key in MESSAGES[lang])) out.push(`${lang}: ${key}`);
      for (const key of Object.keys(MESSAGES[lang])) if (!(key in MESSAGES.en)) out.push(`${lang} only: ${key}`);
    }
    return { count: keys.length, out };
  });
  check(missing.out.length === 0, `every text is in every language: ${missing.out.join(', ')}`);
  log(`the page's ${missing.count} texts are each in kk, ru and en`);
  await context.close();
}

/** The organizer cancels `race` on the page in `lang` (a browser asking for it; once
 * signed in the page takes the account's language, and is switched back), with the
 * reason in English and its Kazakh and Russian translations; the push report's table is
 * in the language. */
export async function organizerCancelsOnPage(browser, { lang, race, organizer, reasons }) {
  const expected = EXPECTED[lang];
  const context = await browser.newContext({ locale: expected.locale, viewport: { width: 1280, height: 900 } });
  const page = watch(await context.newPage(), `organizer (${lang})`);
  await page.goto(`${GATEWAY}/`);
  const form = page.locator('form', { has: page.getByRole('heading', { name: expected.signIn }) });
  await form.getByLabel('Email').fill(organizer.email);
  await form.getByLabel(expected.password1, { exact: true }).fill(organizer.password);
  await form.getByRole('button', { name: expected.signIn }).click();
  await page.locator('.who').waitFor();
  // The account's language wins at sign-in: switch back when it is another.
  const shown = await page.evaluate(() => document.documentElement.lang);
  if (shown !== lang) await switchTo(page, shown, lang);
  await until(`the organizer's page in ${lang}`, async () => (await page.evaluate(() => document.documentElement.lang)) === lang);
  const card = page.locator(`#race-${race.slug}`);
  await card.getByLabel(expected.newStatus).waitFor();
  let response;
  for (let attempt = 1; !response; attempt += 1) {
    await card.getByLabel(expected.newStatus).selectOption('CANCELLED');
    await card.getByLabel(expected.reasonLabel).fill(reasons.EN);
    const details = card.locator('details.translations');
    if (!(await details.evaluate((d) => d.open))) await details.locator('summary').getByText(expected.translations).click();
    await card.getByLabel(expected.reasonIn.KK).fill(reasons.KK);
    await card.getByLabel(expected.reasonIn.RU).fill(reasons.RU);
    const sent = page.waitForRequest(
      (r) => r.url() === `${GATEWAY}/graphql` && (r.postData() ?? '').includes('changeEventStatus'),
      { timeout: 5_000 },
    );
    await card.getByRole('button', { name: expected.announce, exact: true }).click();
    const request = await sent.catch((error) => {
      if (attempt >= 3) throw error;
      return null;
    });
    if (request) {
      const input = JSON.parse(request.postData()).variables.input;
      check(
        JSON.stringify(input.reasons) === JSON.stringify([{ language: 'KK', text: reasons.KK }, { language: 'RU', text: reasons.RU }]),
        `the organizer's translations are sent: ${JSON.stringify(input.reasons)}`,
      );
      response = await request.response();
    }
  }
  const body = await response.json();
  check(!body.errors, `the cancellation is accepted: ${JSON.stringify(body.errors)}`);
  await card.locator('table.reports caption').getByText(expected.reportsCaption, { exact: true }).waitFor({ timeout: 10_000 });
  log(`organizer (${lang}): cancelled ${race.name} on the page, with the reason in kk and ru; the reports are in ${lang}`);
  return {
    close: () => context.close(),
  };
}
