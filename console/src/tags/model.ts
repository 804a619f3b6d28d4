// The shapes of the lifecycle API's answers the workspace reads.

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
