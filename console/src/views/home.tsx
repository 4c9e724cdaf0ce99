import { useEffect, useState } from 'preact/hooks';
import { api, problemWords } from '../api/client';
import type { components } from '../api/schema';
import { session } from '../api/session';
import { Recommendations } from './recommendations';

type Step = components['schemas']['GuideStep'];
type Onboarding = {
  steps: Array<Step & { done: boolean; yours: boolean }>;
  done: number;
  total: number;
  complete: boolean;
};

function StepRequest({ step }: { step: Step }) {
  if (!step.request) return null;
  return (
    <code class="request">
      {step.request.method} {step.request.path}
      {step.request.body ? ` ${JSON.stringify(step.request.body)}` : ''}
    </code>
  );
}

/** Hello and, until it is done, the first-steps checklist. */
export function Home() {
  const [hello, setHello] = useState<{ greeting: string; next: Step[] } | null>(null);
  const [onboarding, setOnboarding] = useState<Onboarding | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void (async () => {
      const [h, o] = await Promise.all([api.GET('/api/v1/guide/hello'), api.GET('/api/v1/guide/onboarding')]);
      if (h.data) setHello(h.data);
      else setError(problemWords(h.error));
      if (o.data) setOnboarding(o.data);
    })();
  }, []);
  return (
    <main id="main" class="home">
      <h1>Welcome</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {hello && (
        <section class="card" aria-labelledby="hello-title">
          <h2 id="hello-title">Hello</h2>
          <p>{hello.greeting}</p>
          <h3>Next</h3>
          <ol class="steps">
            {hello.next.map((s) => (
              <li key={s.id}>
                {s.console ? <a href={s.console}>{s.title}</a> : <strong>{s.title}</strong>}
                <p class="muted">{s.detail}</p>
                <StepRequest step={s} />
              </li>
            ))}
          </ol>
        </section>
      )}
      {session.has('bots:read') && <Recommendations compact />}
      {onboarding && !onboarding.complete && (
        <section class="card" aria-labelledby="onboarding-title">
          <h2 id="onboarding-title">
            Getting started: {onboarding.done} of {onboarding.total} done
          </h2>
          <ol class="checklist">
            {onboarding.steps.map((s) => (
              <li key={s.id} class={s.done ? 'done' : undefined} data-step={s.id} data-done={String(s.done)}>
                <span class="check" aria-hidden="true">
                  {s.done ? '✓' : '○'}
                </span>
                <div>
                  {s.console && !s.done ? <a href={s.console}>{s.title}</a> : <strong>{s.title}</strong>}
                  <span class="visually-hidden">{s.done ? ' (done)' : ' (to do)'}</span>
                  <p class="muted">{s.detail}</p>
                  {!s.done && <StepRequest step={s} />}
                </div>
              </li>
            ))}
          </ol>
        </section>
      )}
    </main>
  );
}
