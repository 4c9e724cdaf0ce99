import { useEffect, useState } from 'preact/hooks';
import { api, problemWords, type Bot } from '../api/client';
import { session } from '../api/session';
import { fleet } from '../fleet';
import { notify } from '../notices';
import { href } from '../route';

/** The JSON Schema of a field, as the OpenAPI document gives it. */
interface FieldSchema {
  type?: string | string[];
  $ref?: string;
  properties?: Record<string, FieldSchema>;
  additionalProperties?: FieldSchema | boolean;
  items?: FieldSchema;
  default?: unknown;
  example?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}
interface Doc {
  components: { schemas: Record<string, FieldSchema> };
}

let doc: Promise<Doc> | null = null;
/** The API's own description: the form's fields, limits, defaults and help come from it, not from a copy. */
function openApi(): Promise<Doc> {
  doc ??= fetch('/openapi.json').then((r) => r.json() as Promise<Doc>);
  return doc;
}
const resolve = (d: Doc, s: FieldSchema): FieldSchema =>
  s.$ref ? (d.components.schemas[s.$ref.split('/').pop()!] ?? {}) : s;

/** A schema's default or example as words. */
const shown = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : (JSON.stringify(v) ?? '');

/** A list or a record: one text area, one line per item. */
const isMultiline = (s: FieldSchema) => kindOf(s) === 'array' || (kindOf(s) === 'object' && !s.properties);
const label = (name: string) => name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
const kindOf = (s: FieldSchema) => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type);

type Values = Record<string, string>;
type Errors = Record<string, string>;

/** A bot's spec as form text: the same shape the form reads back. */
function valuesOf(bot: Bot): Values {
  const v: Values = {
    name: bot.name,
    description: bot.description,
    role: bot.role,
    blueprint: bot.blueprint ?? '',
    image: bot.image ?? '',
    args: bot.args.join('\n'),
    env: '',
    heartbeat_interval_seconds: bot.heartbeat_interval_seconds?.toString() ?? '',
  };
  for (const [group, obj] of [
    ['resources', bot.resources],
    ['heal_policy', bot.heal_policy],
    ['health_rules', bot.health_rules],
  ] as const)
    for (const [k, x] of Object.entries(obj)) v[`${group}.${k}`] = x === null || x === undefined ? '' : String(x);
  return v;
}

/** Form text to the request body: empty fields are left out (their defaults apply), numbers are numbers. */
function bodyOf(d: Doc, schema: FieldSchema, values: Values, only?: Set<string>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(schema.properties ?? {})) {
    const s = resolve(d, raw);
    if (only && ![...only].some((k) => k === name || k.startsWith(`${name}.`))) continue;
    if (kindOf(s) === 'object' && s.properties) {
      const inner: Record<string, unknown> = {};
      for (const [k, sub] of Object.entries(s.properties)) {
        const text = values[`${name}.${k}`]?.trim() ?? '';
        if (text !== '') inner[k] = kindOf(sub) === 'integer' || kindOf(sub) === 'number' ? Number(text) : text;
      }
      if (Object.keys(inner).length) body[name] = inner;
      continue;
    }
    const text = values[name]?.trim() ?? '';
    if (text === '') continue;
    if (kindOf(s) === 'array')
      body[name] = text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    else if (kindOf(s) === 'object') {
      const env: Record<string, string> = {};
      for (const line of text.split('\n').filter((l) => l.trim())) {
        const at = line.indexOf('=');
        env[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? '' : line.slice(at + 1);
      }
      body[name] = env;
    } else if (kindOf(s) === 'integer' || kindOf(s) === 'number') body[name] = Number(text);
    else body[name] = text;
  }
  return body;
}

/** Register a bot (no `bot`), or change one: the fields and their rules come from the API's schema. */
export function BotForm({ bot }: { bot?: Bot }) {
  const [d, setDoc] = useState<Doc | null>(null);
  const [values, setValues] = useState<Values>(bot ? valuesOf(bot) : {});
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [errors, setErrors] = useState<Errors>({});
  const [summary, setSummary] = useState<string | null>(null);
  const [blueprints, setBlueprints] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void openApi().then(setDoc);
    if (session.has('bots:create'))
      void api.GET('/api/v1/blueprints').then(({ data }) => data && setBlueprints(data.blueprints.map((b) => b.path)));
  }, []);
  if (!d) return <p class="loading">Reading the schema…</p>;
  const schema = d.components.schemas.CreateBot!;

  const set = (name: string, value: string) => {
    setValues((v) => ({ ...v, [name]: value }));
    setTouched((t) => new Set(t).add(name));
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setSummary(null);
    const { data, error, response } = bot
      ? await api.PATCH('/api/v1/bots/{id}', {
          params: { path: { id: bot.bot_id } },
          body: bodyOf(d, schema, values, touched) as never,
        })
      : await api.POST('/api/v1/bots', { body: bodyOf(d, schema, values) as never });
    setBusy(false);
    if (data) {
      notify('ok', data.message ?? `${data.bot_id} saved.`);
      void fleet.refresh(data.bot_id);
      location.hash = href('bots', data.bot_id);
      return;
    }
    const p = error as { errors?: Array<{ path: string; message: string }> } | undefined;
    const byField: Errors = {};
    for (const fe of p?.errors ?? []) byField[fe.path] ??= fe.message;
    setErrors(byField);
    setSummary(`${response.status}: ${problemWords(error)}`);
  };

  const field = (name: string, raw: FieldSchema, required: boolean) => {
    const s = resolve(d, raw);
    const kind = kindOf(s);
    const fid = `f-${name.replace('.', '-')}`;
    // A record's error names its key (env.NODE_OPTIONS): it belongs to the record's field.
    const error =
      errors[name] ??
      (isMultiline(s) ? Object.entries(errors).find(([p]) => p.startsWith(`${name}.`))?.[1] : undefined);
    // An empty default (a description) says nothing worth a placeholder.
    const hint =
      s.default !== undefined && s.default !== '' && typeof s.default !== 'object' ? `default ${shown(s.default)}` : '';
    const common = {
      id: fid,
      name,
      value: values[name] ?? '',
      'aria-invalid': error ? ('true' as const) : undefined,
      'aria-describedby': `${fid}-help${error ? ` ${fid}-error` : ''}`,
      onInput: (e: Event) => set(name, (e.currentTarget as HTMLInputElement).value),
    };
    const multi = isMultiline(s);
    return (
      <div class={`field${error ? ' invalid' : ''}`} key={name}>
        <label for={fid} class={required ? 'required' : undefined}>
          {label(name.split('.').pop()!)}
        </label>
        {name === 'blueprint' ? (
          <>
            <input {...common} list="blueprints" placeholder={blueprints[0] ?? shown(s.example ?? '')} />
            <datalist id="blueprints">
              {blueprints.map((b) => (
                <option key={b} value={b} />
              ))}
            </datalist>
          </>
        ) : multi ? (
          <textarea
            {...common}
            rows={3}
            placeholder={
              kind === 'array'
                ? 'one per line'
                : bot
                  ? 'KEY=value per line (replaces all; empty keeps them)'
                  : 'KEY=value per line'
            }
          />
        ) : kind === 'integer' || kind === 'number' ? (
          <input
            {...common}
            type="number"
            inputMode="decimal"
            step={kind === 'integer' ? 1 : 'any'}
            min={s.minimum}
            max={s.maximum}
            placeholder={hint}
            required={required}
          />
        ) : (
          <input
            {...common}
            maxLength={s.maxLength}
            placeholder={hint || (s.example !== undefined ? `e.g. ${shown(s.example)}` : '')}
            required={required}
          />
        )}
        <small id={`${fid}-help`} class="muted">
          {s.description ?? ''}
          {bot && name === 'env' && bot.env.length ? ` Now set: ${bot.env.join(', ')}.` : ''}
        </small>
        {error && (
          <small id={`${fid}-error`} class="error" role="alert">
            {error}
          </small>
        )}
      </div>
    );
  };

  const required = new Set((schema as { required?: string[] }).required ?? []);
  const props = Object.entries(schema.properties ?? {}).filter(([n]) => !(bot && n === 'id'));
  return (
    <main id="main" class="bot-form">
      <h1>{bot ? `Edit ${bot.bot_id}` : 'Create bot'}</h1>
      {bot && <p class="muted">Changes apply at the next start or restart.</p>}
      <form onSubmit={(e) => void submit(e)} noValidate>
        {props.map(([name, raw]) => {
          const s = resolve(d, raw);
          if (kindOf(s) === 'object' && s.properties)
            return (
              <fieldset key={name} class="card">
                <legend>{label(name)}</legend>
                {s.description && <p class="muted">{s.description}</p>}
                {Object.entries(s.properties).map(([k, sub]) => field(`${name}.${k}`, sub, false))}
              </fieldset>
            );
          return field(name, raw, required.has(name));
        })}
        {summary && (
          <p class="error" role="alert">
            {summary}
          </p>
        )}
        <div class="dialog-buttons">
          <a class="button" href={bot ? href('bots', bot.bot_id) : href('fleet')}>
            Cancel
          </a>
          <button type="submit" class="primary" disabled={busy}>
            {bot ? 'Save' : 'Create'}
          </button>
        </div>
      </form>
    </main>
  );
}

/** #/bots/<id>/edit: the form over the bot as it is now. */
export function EditBot({ id }: { id: string }) {
  const [bot, setBot] = useState<Bot | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void api.GET('/api/v1/bots/{id}', { params: { path: { id } } }).then(({ data, error: e }) => {
      if (data) setBot(data);
      else setError(problemWords(e));
    });
  }, [id]);
  if (error)
    return (
      <main id="main">
        <p class="error" role="alert">
          {error}
        </p>
      </main>
    );
  return bot ? <BotForm bot={bot} /> : <p class="loading">Reading {id}…</p>;
}
