import { api } from './api/client';
import type { components } from './api/schema';

type Hello = { platform: { temporal_ui_url: string | null; temporal_namespace: string } };
let hello: Promise<Hello['platform'] | null> | null = null;

/** What the platform says of itself (version, Temporal UI), read once per sign-in. */
export function platformInfo(): Promise<Hello['platform'] | null> {
  hello ??= api.GET('/api/v1/guide/hello').then(({ data }) => data?.platform ?? null);
  return hello;
}

export function forgetPlatformInfo(): void {
  hello = null;
}

export type GuideStep = components['schemas']['GuideStep'];
