// The shapes of the lifecycle API's answers the workspace reads, and opening one tag.

import { api, canEdit, enc, whoAmI } from "../api";

export interface Prompt {
  text: string;
  polarity: "positive" | "negative";
  modality: "visual" | "transcript" | "both";
}

export interface Tag {
  name: string;
  prompts: Prompt[];
  labels: { asset_id: string; positive: boolean }[];
  threshold: number;
  status: string;
  guarantee?: Record<string, unknown>;
}

export interface Group {
  name: string;
  slug: string;
  training_dataset: string;
  status: string;
  visibility: string;
  tags: Tag[];
  latest_version: number;
  revision: number;
}

/** One item of a preview, search or uncertain-assets answer. */
export interface Item {
  item_id?: string;
  coactive_image_id?: string;
  score: number;
  threshold_decision?: boolean;
  text?: string;
  coactive_video_id?: string | null;
  [k: string]: unknown;
}

export const itemId = (i: Item): string => String(i.item_id ?? i.coactive_image_id ?? i.asset_id ?? "");

/** A tag of a group, as its pages open it: the group, the tag, the dataset it is edited on,
 * whether the caller may edit it, and the base of its routes. */
export async function openTag(slug: string, tagName: string) {
  const me = await whoAmI();
  const group = await api<Group>("GET", `/api/groups/${enc(slug)}`);
  const tag = group.tags.find((t) => t.name.toLowerCase() === tagName.toLowerCase());
  if (!tag) throw new Error(`tag '${tagName}' not found in group '${group.name}'`);
  const dataset = group.training_dataset;
  return { group, tag, dataset, editor: canEdit(me, dataset), base: `/api/groups/${enc(slug)}/tags/${enc(tag.name)}` };
}
